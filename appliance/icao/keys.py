"""Public keys from chips and certificates, including EC keys with explicit curve parameters.

Some CSCAs (Vietnam's among them, DOMAIN.md section 5) and chips encode their EC keys with the
full curve parameters instead of a curve name; ``cryptography`` refuses those, so the parameters
are compared with the named curves it supports and the key is loaded on the curve they equal.
"""

from __future__ import annotations

from typing import NamedTuple

from asn1crypto import core
from asn1crypto import keys as akeys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from appliance.icao.errors import LdsError

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


class CurveParams(NamedTuple):
    p: int
    a: int
    b: int
    gx: int
    gy: int
    n: int


CURVES: tuple[tuple[type[ec.EllipticCurve], CurveParams], ...] = (
    (
        ec.SECP192R1,
        CurveParams(
            0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFFFFFFFFFFFF,
            0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFFFFFFFFFFFC,
            0x64210519E59C80E70FA7E9AB72243049FEB8DEECC146B9B1,
            0x188DA80EB03090F67CBF20EB43A18800F4FF0AFD82FF1012,
            0x7192B95FFC8DA78631011ED6B24CDD573F977A11E794811,
            0xFFFFFFFFFFFFFFFFFFFFFFFF99DEF836146BC9B1B4D22831,
        ),
    ),
    (
        ec.SECP224R1,
        CurveParams(
            0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF000000000000000000000001,
            0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFE,
            0xB4050A850C04B3ABF54132565044B0B7D7BFD8BA270B39432355FFB4,
            0xB70E0CBD6BB4BF7F321390B94A03C1D356C21122343280D6115C1D21,
            0xBD376388B5F723FB4C22DFE6CD4375A05A07476444D5819985007E34,
            0xFFFFFFFFFFFFFFFFFFFFFFFFFFFF16A2E0B8F03E13DD29455C5C2A3D,
        ),
    ),
    (
        ec.SECP256R1,
        CurveParams(
            0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF,
            0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFC,
            0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B,
            0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
            0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5,
            0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
        ),
    ),
    (
        ec.SECP384R1,
        CurveParams(
            0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFFFF0000000000000000FFFFFFFF,
            0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFFFF0000000000000000FFFFFFFC,
            0xB3312FA7E23EE7E4988E056BE3F82D19181D9C6EFE8141120314088F5013875AC656398D8A2ED19D2A85C8EDD3EC2AEF,
            0xAA87CA22BE8B05378EB1C71EF320AD746E1D3B628BA79B9859F741E082542A385502F25DBF55296C3A545E3872760AB7,
            0x3617DE4A96262C6F5D9E98BF9292DC29F8F41DBD289A147CE9DA3113B5F0B8C00A60B1CE1D7E819D7A431D7C90EA0E5F,
            0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973,
        ),
    ),
    (
        ec.SECP521R1,
        CurveParams(
            0x1FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF,
            0x1FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC,
            0x51953EB9618E1C9A1F929A21A0B68540EEA2DA725B99B315F3B8B489918EF109E156193951EC7E937B1652C0BD3BB1BF073573DF883D2C34F1EF451FD46B503F00,
            0xC6858E06B70404E9CD9E3ECB662395B4429C648139053FB521F828AF606B4D3DBAA14B5E77EFE75928FE1DC127A2FFA8DE3348B3C1856A429BF97E7E31C2E5BD66,
            0x11839296A789A3BC0045C8A5FB42C7D1BD998F54449579B446817AFBD17273E662C97EE72995EF42640C550B9013FAD0761353C7086A272C24088BE94769FD16650,
            0x1FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFA51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409,
        ),
    ),
    (
        ec.SECP256K1,
        CurveParams(
            0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F,
            0x0,
            0x7,
            0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,
            0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8,
            0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141,
        ),
    ),
    (
        ec.BrainpoolP256R1,
        CurveParams(
            0xA9FB57DBA1EEA9BC3E660A909D838D726E3BF623D52620282013481D1F6E5377,
            0x7D5A0975FC2C3057EEF67530417AFFE7FB8055C126DC5C6CE94A4B44F330B5D9,
            0x26DC5C6CE94A4B44F330B5D9BBD77CBF958416295CF7E1CE6BCCDC18FF8C07B6,
            0x8BD2AEB9CB7E57CB2C4B482FFC81B7AFB9DE27E1E3BD23C23A4453BD9ACE3262,
            0x547EF835C3DAC4FD97F8461A14611DC9C27745132DED8E545C1D54C72F046997,
            0xA9FB57DBA1EEA9BC3E660A909D838D718C397AA3B561A6F7901E0E82974856A7,
        ),
    ),
    (
        ec.BrainpoolP384R1,
        CurveParams(
            0x8CB91E82A3386D280F5D6F7E50E641DF152F7109ED5456B412B1DA197FB71123ACD3A729901D1A71874700133107EC53,
            0x7BC382C63D8C150C3C72080ACE05AFA0C2BEA28E4FB22787139165EFBA91F90F8AA5814A503AD4EB04A8C7DD22CE2826,
            0x4A8C7DD22CE28268B39B55416F0447C2FB77DE107DCD2A62E880EA53EEB62D57CB4390295DBC9943AB78696FA504C11,
            0x1D1C64F068CF45FFA2A63A81B7C13F6B8847A3E77EF14FE3DB7FCAFE0CBD10E8E826E03436D646AAEF87B2E247D4AF1E,
            0x8ABE1D7520F9C2A45CB1EB8E95CFD55262B70B29FEEC5864E19C054FF99129280E4646217791811142820341263C5315,
            0x8CB91E82A3386D280F5D6F7E50E641DF152F7109ED5456B31F166E6CAC0425A7CF3AB6AF6B7FC3103B883202E9046565,
        ),
    ),
    (
        ec.BrainpoolP512R1,
        CurveParams(
            0xAADD9DB8DBE9C48B3FD4E6AE33C9FC07CB308DB3B3C9D20ED6639CCA703308717D4D9B009BC66842AECDA12AE6A380E62881FF2F2D82C68528AA6056583A48F3,
            0x7830A3318B603B89E2327145AC234CC594CBDD8D3DF91610A83441CAEA9863BC2DED5D5AA8253AA10A2EF1C98B9AC8B57F1117A72BF2C7B9E7C1AC4D77FC94CA,
            0x3DF91610A83441CAEA9863BC2DED5D5AA8253AA10A2EF1C98B9AC8B57F1117A72BF2C7B9E7C1AC4D77FC94CADC083E67984050B75EBAE5DD2809BD638016F723,
            0x81AEE4BDD82ED9645A21322E9C4C6A9385ED9F70B5D916C1B43B62EEF4D0098EFF3B1F78E2D0D48D50D1687B93B97D5F7C6D5047406A5E688B352209BCB9F822,
            0x7DDE385D566332ECC0EABFA9CF7822FDF209F70024A57B1AA000C55B881F8111B2DCDE494A5F485E5BCA4BD88A2763AED1CA2B2FA8F0540678CD1E0F3AD80892,
            0xAADD9DB8DBE9C48B3FD4E6AE33C9FC07CB308DB3B3C9D20ED6639CCA70330870553E5C414CA92619418661197FAC10471DB1D381085DDADDB58796829CA90069,
        ),
    ),
)


def _int(value: bytes | int) -> int:
    return value if isinstance(value, int) else int.from_bytes(value, "big")


def _decode_point(point: bytes, p: int) -> tuple[int, int | None, int | None]:
    """(x, y, parity) of an encoded point; y is None for a compressed point."""
    size = (p.bit_length() + 7) // 8
    if len(point) == 1 + 2 * size and point[0] == 4:
        return _int(point[1 : 1 + size]), _int(point[1 + size :]), None
    if len(point) == 1 + size and point[0] in (2, 3):
        return _int(point[1:]), None, point[0] & 1
    raise LdsError("the curve's base point is not a valid encoded point")


def named_curve_for(params: akeys.SpecifiedECDomain) -> ec.EllipticCurve:
    """The named curve that explicit parameters describe (raises :class:`LdsError`)."""
    try:
        if params["field_id"]["field_type"].native != "prime_field":
            raise LdsError("only prime-field curves are supported")
        p = _int(params["field_id"]["parameters"].native)
        a = _int(params["curve"]["a"].native)
        b = _int(params["curve"]["b"].native)
        gx, gy, parity = _decode_point(params["base"].native, p)
        n = _int(params["order"].native)
    except (ValueError, TypeError, KeyError) as exc:
        raise LdsError(f"malformed explicit curve parameters: {exc}") from None
    for cls, known in CURVES:
        if (p, a % p, b % p, gx, n) != (known.p, known.a % known.p, known.b, known.gx, known.n):
            continue
        if (gy is not None and gy != known.gy) or (parity is not None and parity != known.gy & 1):
            continue
        return cls()
    raise LdsError("explicit EC parameters match no supported named curve")


def explicit_parameters(curve: ec.EllipticCurve) -> akeys.ECDomainParameters:
    """Explicit (specified) parameters of a supported named curve, as a CSCA may encode them."""
    for cls, known in CURVES:
        if cls.name == curve.name:
            size = (known.p.bit_length() + 7) // 8
            return akeys.ECDomainParameters(
                name="specified",
                value={
                    "version": "ecdpVer1",
                    "field_id": {"field_type": "prime_field", "parameters": known.p},
                    "curve": {
                        "a": known.a.to_bytes(size, "big"),
                        "b": known.b.to_bytes(size, "big"),
                    },
                    "base": b"\x04"
                    + known.gx.to_bytes(size, "big")
                    + known.gy.to_bytes(size, "big"),
                    "order": known.n,
                    "cofactor": 1,
                },
            )
    raise ValueError(f"no parameters for curve {curve.name}")


def explicit_spki(key: ec.EllipticCurvePublicKey) -> bytes:
    """The SubjectPublicKeyInfo of ``key`` with explicit curve parameters."""
    point = key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return akeys.PublicKeyInfo(
        {
            "algorithm": {"algorithm": "ec", "parameters": explicit_parameters(key.curve)},
            "public_key": point,
        }
    ).dump()


def load_public_key(spki: bytes | akeys.PublicKeyInfo) -> PublicKey:
    """An RSA or EC public key from a SubjectPublicKeyInfo (raises :class:`LdsError`)."""
    try:
        info = spki if isinstance(spki, akeys.PublicKeyInfo) else akeys.PublicKeyInfo.load(spki)
        algorithm = info["algorithm"]["algorithm"].native
        if algorithm == "ec":
            params = info["algorithm"]["parameters"]
            if params.name == "specified":
                curve = named_curve_for(params.chosen)
                point = bytes(info["public_key"].native)
                return ec.EllipticCurvePublicKey.from_encoded_point(curve, point)
        elif algorithm == "rsassa_pss":  # an RSA key restricted to PSS: load it as plain RSA
            info = akeys.PublicKeyInfo(
                {
                    "algorithm": {"algorithm": "rsa", "parameters": core.Null()},
                    "public_key": info["public_key"],
                }
            )
        elif algorithm != "rsa":
            raise LdsError(f"unsupported public key algorithm {algorithm}")
        key = serialization.load_der_public_key(info.dump(force=True))
    except LdsError:
        raise
    except Exception as exc:  # asn1crypto and cryptography raise many types on malformed keys
        raise LdsError(f"unusable public key: {exc}") from None
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise LdsError(f"unsupported public key type {type(key).__name__}")
    return key
