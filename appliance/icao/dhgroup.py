"""Diffie-Hellman groups for PACE DH Generic Mapping (ICAO 9303-11 section 4.4.3.3.1, 9.5.1).

:class:`DhGroup` offers the interface of :class:`appliance.icao.ecmath.Curve` in multiplicative
notation (``mul(k, y)`` is ``y^k mod p``, ``add(a, b)`` is ``a * b mod p``), so the PACE code is the
same for both. Parameter ID 0 only: the 1024-bit MODP group with a 160-bit prime-order subgroup
of RFC 5114 section 2.1 (the group of the ICAO worked example); IDs 1 and 2 (2048-bit) are not
included. Public values are checked: ``1 < y < p - 1`` and ``y^q = 1``.
"""

from __future__ import annotations

from dataclasses import dataclass

from appliance.icao.errors import SecureMessagingError


@dataclass(frozen=True)
class DhGroup:
    name: str
    p: int
    g: int
    n: int  # q, the order of the subgroup
    token_tag: int = 0x84

    @property
    def size(self) -> int:
        return (self.p.bit_length() + 7) // 8

    def mul(self, k: int, y: int | None) -> int | None:
        return None if y is None else pow(y, k, self.p)

    def add(self, a: int | None, b: int | None) -> int | None:
        if a is None or b is None:
            return a if b is None else b
        return a * b % self.p

    def encode(self, y: int | None) -> bytes:
        if y is None:
            raise ValueError("no value to encode")
        return y.to_bytes(self.size, "big")

    def decode(self, data: bytes) -> int:
        if len(data) != self.size:
            raise SecureMessagingError("the other side's DH public value has the wrong length")
        y = int.from_bytes(data, "big")
        if not 1 < y < self.p - 1 or pow(y, self.n, self.p) != 1:
            raise SecureMessagingError("the other side's DH public value is not in the group")
        return y

    def secret(self, y: int) -> bytes:
        return self.encode(y)


RFC5114_1024_160 = DhGroup(
    "MODP-1024-160",
    int(
        "B10B8F96A080E01DDE92DE5EAE5D54EC52C99FBCFB06A3C69A6A9DCA52D23B616073E28675A23D189838EF1E"
        "2EE652C013ECB4AEA906112324975C3CD49B83BFACCBDD7D90C4BD7098488E9C219A73724EFFD6FAE5644738"
        "FAA31A4FF55BCCC0A151AF5F0DC8B4BD45BF37DF365C1A65E68CFDA76D4DA708DF1FB2BC2E4A4371",
        16,
    ),
    int(
        "A4D1CBD5C3FD34126765A442EFB99905F8104DD258AC507FD6406CFF14266D31266FEA1E5C41564B777E690F"
        "5504F213160217B4B01B886A5E91547F9E2749F4D7FBD7D3B9A92EE1909D0D2263F80A76A6A24C087A091F53"
        "1DBF0A0169B6A28AD662A4D18E73AFA32D779D5918D08BC8858F4DCEF97C2A24855E6EEB22B3B2E5",
        16,
    ),
    0xF518AA8781A8DF278ABA4E7D64B7CB9D49462353,
)
DH_GROUPS = {0: RFC5114_1024_160}
