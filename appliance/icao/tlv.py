"""BER-TLV as ICAO 9303 files and secure messaging use it: strict bounds, typed errors.

Tags are returned as integers (``0x5F1F``), lengths in the short form or ``81``-``84`` long
forms. Anything malformed (a tag or length running past the data, the indefinite form, a
length of more than four bytes) raises :class:`~appliance.icao.errors.LdsError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from appliance.icao.errors import LdsError

MAX_TAG_BYTES = 3


@dataclass(frozen=True, slots=True)
class Tlv:
    tag: int
    value: bytes
    end: int  # offset just after this TLV in the data it came from


def read_header(data: bytes, offset: int = 0) -> tuple[int, int, int] | None:
    """(tag, length, header size) of the TLV at ``offset``, or None when ``data`` ends inside
    the header (more bytes are needed). Malformed headers raise :class:`LdsError`."""
    pos = offset
    if pos >= len(data):
        return None
    tag = data[pos]
    pos += 1
    if tag & 0x1F == 0x1F:
        while True:
            if pos >= len(data):
                return None
            tag = (tag << 8) | data[pos]
            pos += 1
            if not data[pos - 1] & 0x80:
                break
            if pos - offset >= MAX_TAG_BYTES:
                raise LdsError(f"tag longer than {MAX_TAG_BYTES} bytes at offset {offset}")
    if tag in (0x00, 0xFF):
        raise LdsError(f"invalid tag {tag:02X} at offset {offset}")
    if pos >= len(data):
        return None
    first = data[pos]
    pos += 1
    if first < 0x80:
        length = first
    elif first == 0x80:
        raise LdsError(f"indefinite length at offset {offset} is not allowed")
    elif first <= 0x84:
        count = first & 0x7F
        if pos + count > len(data):
            return None
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    else:
        raise LdsError(f"length field of {first & 0x7F} bytes at offset {offset}")
    return tag, length, pos - offset


def parse(data: bytes, offset: int = 0) -> Tlv:
    """The complete TLV at ``offset``; its value must lie inside ``data``."""
    header = read_header(data, offset)
    if header is None:
        raise LdsError(f"data ends inside a TLV header at offset {offset}")
    tag, length, size = header
    start = offset + size
    end = start + length
    if end > len(data):
        raise LdsError(
            f"TLV {tag:X} at offset {offset} claims {length} bytes, only {len(data) - start} left"
        )
    return Tlv(tag, bytes(data[start:end]), end)


def iterate(data: bytes) -> Iterator[Tlv]:
    """Every TLV in ``data``, one after the other, to the last byte."""
    pos = 0
    while pos < len(data):
        item = parse(data, pos)
        yield item
        pos = item.end


def children(data: bytes) -> list[Tlv]:
    return list(iterate(data))


def unwrap(data: bytes, tag: int, what: str) -> bytes:
    """The value of the TLV ``tag`` that ``data`` starts with (bytes after it are ignored, as
    some chips pad their files)."""
    item = parse(data)
    if item.tag != tag:
        raise LdsError(f"{what} starts with tag {item.tag:X}, expected {tag:X}")
    return item.value


def find(items: list[Tlv], tag: int) -> bytes | None:
    for item in items:
        if item.tag == tag:
            return item.value
    return None


def encode_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    raw = length.to_bytes((length.bit_length() + 7) // 8, "big")
    if len(raw) > 4:
        raise ValueError("length too large for BER-TLV")
    return bytes([0x80 | len(raw)]) + raw


def encode_tag(tag: int) -> bytes:
    return tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")


def encode(tag: int, value: bytes) -> bytes:
    """One TLV."""
    return encode_tag(tag) + encode_length(len(value)) + value
