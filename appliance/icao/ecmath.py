"""Elliptic-curve point arithmetic for PACE Generic Mapping (ICAO 9303-11 section 4.4.3.3.1).

Generic Mapping needs what ``cryptography`` does not offer: the whole shared point
``H = SK_map * PK_map`` (ECDH gives only its x-coordinate), the mapped generator
``G~ = s * G + H``, and key pairs on that generator. So this module does short-Weierstrass
arithmetic on the curves of :data:`appliance.icao.keys.CURVES` with Python integers (Jacobian
coordinates; a 256-bit multiplication takes a few milliseconds). Everything else (chip
authentication, AES, CMAC) uses ``cryptography``. Points are ``(x, y)`` tuples; ``None`` is the
point at infinity. Not constant-time: the values are ephemeral, used once per session.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec

from appliance.icao.errors import SecureMessagingError
from appliance.icao.keys import CURVES

Point = tuple[int, int] | None


@dataclass(frozen=True)
class Curve:
    name: str
    p: int
    a: int
    b: int
    g: tuple[int, int]
    n: int
    token_tag: int = 0x86  # the public point's tag in the PACE authentication token

    @property
    def size(self) -> int:
        """Bytes of one coordinate."""
        return (self.p.bit_length() + 7) // 8

    def on_curve(self, pt: Point) -> bool:
        if pt is None:
            return False
        x, y = pt
        if not (0 <= x < self.p and 0 <= y < self.p):
            return False
        return (y * y - x * x * x - self.a * x - self.b) % self.p == 0

    # Jacobian coordinates (X, Y, Z): x = X/Z^2, y = Y/Z^3

    def _double(self, pt):
        x1, y1, z1 = pt
        if not y1:
            return (0, 1, 0)
        p = self.p
        ysq = y1 * y1 % p
        s = 4 * x1 * ysq % p
        m = (3 * x1 * x1 + self.a * pow(z1, 4, p)) % p
        x3 = (m * m - 2 * s) % p
        return x3, (m * (s - x3) - 8 * ysq * ysq) % p, 2 * y1 * z1 % p

    def _add(self, p1, p2):
        if not p1[2]:
            return p2
        if not p2[2]:
            return p1
        p = self.p
        z1s, z2s = p1[2] * p1[2] % p, p2[2] * p2[2] % p
        u1, u2 = p1[0] * z2s % p, p2[0] * z1s % p
        s1, s2 = p1[1] * z2s * p2[2] % p, p2[1] * z1s * p1[2] % p
        if u1 == u2:
            return self._double(p1) if s1 == s2 else (0, 1, 0)
        h, r = (u2 - u1) % p, (s2 - s1) % p
        h2 = h * h % p
        h3 = h * h2 % p
        u1h2 = u1 * h2 % p
        x3 = (r * r - h3 - 2 * u1h2) % p
        return x3, (r * (u1h2 - x3) - s1 * h3) % p, h * p1[2] * p2[2] % p

    def _affine(self, pt) -> Point:
        if not pt[2]:
            return None
        zi = pow(pt[2], -1, self.p)
        return pt[0] * zi * zi % self.p, pt[1] * zi * zi * zi % self.p

    def mul(self, k: int, pt: Point) -> Point:
        if pt is None or k % self.n == 0:
            return None
        acc, base = (0, 1, 0), (pt[0], pt[1], 1)
        for bit in bin(k % self.n)[2:]:
            acc = self._double(acc)
            if bit == "1":
                acc = self._add(acc, base)
        return self._affine(acc)

    def add(self, p1: Point, p2: Point) -> Point:
        if p1 is None:
            return p2
        if p2 is None:
            return p1
        return self._affine(self._add((*p1, 1), (*p2, 1)))

    def encode(self, pt: Point) -> bytes:
        """Uncompressed encoding ``04 || x || y``."""
        if pt is None:
            raise ValueError("the point at infinity has no encoding")
        return b"\x04" + pt[0].to_bytes(self.size, "big") + pt[1].to_bytes(self.size, "big")

    def secret(self, pt: tuple[int, int]) -> bytes:
        """The shared secret of a key agreement: the x-coordinate."""
        return pt[0].to_bytes(self.size, "big")

    def decode(self, data: bytes) -> tuple[int, int]:
        """A point from the chip or terminal; SecureMessagingError unless it is on the curve."""
        size = self.size
        if len(data) != 1 + 2 * size or data[0] != 4:
            raise SecureMessagingError("the other side's public key is not an uncompressed point")
        pt = int.from_bytes(data[1 : 1 + size], "big"), int.from_bytes(data[1 + size :], "big")
        if not self.on_curve(pt):
            raise SecureMessagingError("the other side's public key is not on the curve")
        return pt


def curve(cls: type[ec.EllipticCurve]) -> Curve:
    for candidate, params in CURVES:
        if candidate is cls:
            return Curve(cls.name, params.p, params.a, params.b, (params.gx, params.gy), params.n)
    raise KeyError(cls.name)
