"""The Parts codec (PROTOCOL.md §10): a record of named values as one message.

    rec = shmbus.Parts.decode(msg.data)       # {"image": memoryview (no copy), "params": {...}, "status": 0}
    img = shmbus.Frame.decode(rec["image"])   # a Frame inside a bytes part: a numpy view, still no copy
    pub.publish(shmbus.Parts.encode({"image": frame_bytes, "params": {"op": "gray"}, "status": 0}))
    with pub.loan(shmbus.Parts.size(rec)) as buf:      # zero-copy: write the record into the ring
        shmbus.Parts.encode_into(buf, rec)

Values: bytes-like (bytes, bytearray, memoryview, contiguous numpy arrays) -> bytes part; str -> string; int ->
int64; float -> float64; dict, list, tuple, bool and None -> JSON. Decoding gives bytes parts as memoryview slices
of the buffer, strings as str, JSON parsed, float64 as float, int64 as int. Pure Python over struct: a record is
plain bytes inside a message the channel already handed over.
"""
from __future__ import annotations

import json
import numbers
import struct
from typing import Any, Dict, List, Tuple

from .errors import make_error

MAGIC = 0x54504253  # "SBPT"
VERSION = 1
HEADER_SIZE = 32
ENTRY_SIZE = 16
MAX_COUNT = 1024
MAX_NAME = 255
BYTES_ALIGN = 64
BYTES, STRING, JSON, FLOAT64, INT64 = 1, 2, 3, 4, 5
TYPES = {BYTES: "bytes", STRING: "string", JSON: "json", FLOAT64: "float64", INT64: "int64"}

_HEADER = struct.Struct("<IHHIIII")  # magic, version, headerSize, count, flags, dirOffset, totalSize (24..31 reserved)
_ENTRY = struct.Struct("<IHBBII")  # nameOffset, nameSize, type, flags, valueOffset, valueSize
_F64 = struct.Struct("<d")
_I64 = struct.Struct("<q")


def _corrupt(why: str) -> Exception:
    return make_error("ERR_PARTS_CORRUPT", f"not a valid Parts record: {why}")


def _invalid(why: str) -> Exception:
    return make_error("ERR_INVALID_ARG", why)


def _no_constant(name: str) -> Any:
    # RFC 8259 has no NaN/Infinity: Python's json would take them, Node's JSON.parse would not.
    raise ValueError(f"{name} is not JSON")


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def _value(name: str, v: Any) -> Tuple[int, Any]:
    """The type code and the bytes (a bytes-like object) of one value."""
    if type(v).__module__ == "numpy" and getattr(v, "shape", None) == ():
        v = v.item()  # a numpy scalar (np.float32(1.5), np.bool_(True)): its Python value, not its buffer
    if v is None or isinstance(v, bool):
        return JSON, json.dumps(v).encode()
    if isinstance(v, str):
        try:
            return STRING, v.encode("utf-8")
        except UnicodeEncodeError:
            raise _invalid(f"Parts.encode: part {name!r}: the string has a lone surrogate (not UTF-8)") from None
    if isinstance(v, numbers.Integral):
        i = int(v)
        if not -(1 << 63) <= i < (1 << 63):
            raise _invalid(f"Parts.encode: part {name!r}: {i} is outside int64")
        return INT64, _I64.pack(i)
    if isinstance(v, numbers.Real):
        return FLOAT64, _F64.pack(float(v))
    if isinstance(v, (dict, list, tuple)):
        try:
            text = json.dumps(v, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
            return JSON, text.encode("utf-8")
        except (TypeError, ValueError, UnicodeEncodeError) as e:
            raise _invalid(f"Parts.encode: part {name!r}: not JSON-serialisable ({e})") from None
    try:
        mv = memoryview(v)
    except TypeError:
        raise _invalid(f"Parts.encode: part {name!r}: a {type(v).__name__} is not a part value (bytes-like, str, int, "
                       "float, bool, None, dict, list)") from None
    if not mv.c_contiguous:
        raise _invalid(f"Parts.encode: part {name!r}: the buffer is not contiguous")
    return BYTES, mv.cast("B") if mv.ndim != 1 or mv.format != "B" else mv


def _plan(record: Any, what: str) -> Tuple[List[Tuple[bytes, int, Any, int, int]], int, int]:
    """Checks the record and lays it out (PROTOCOL.md §10 "Writers"); nothing is written."""
    if not isinstance(record, dict):
        raise _invalid(f"{what}: needs a dict {{name: value}}, got {type(record).__name__}")
    parts = []
    pos = HEADER_SIZE
    for key, v in record.items():
        if not isinstance(key, str):
            raise _invalid(f"{what}: part names are str, got {key!r}")
        try:
            name = key.encode("utf-8")
        except UnicodeEncodeError:
            raise _invalid(f"{what}: part name {key!r} is not UTF-8 text") from None
        if not 1 <= len(name) <= MAX_NAME or b"\0" in name:
            raise _invalid(f"{what}: part name {key[:40]!r} has {len(name)} bytes (1..{MAX_NAME}, no NUL)")
        code, data = _value(key, v)
        name_at = pos
        value_at = _align(name_at + len(name) + 1, BYTES_ALIGN if code == BYTES else 8)
        pos = value_at + len(data) + (1 if code in (STRING, JSON) else 0)
        parts.append((name, code, data, name_at, value_at))
    if len(parts) > MAX_COUNT:
        raise _invalid(f"{what}: {len(parts)} parts, more than {MAX_COUNT}")
    dir_at = _align(pos, 8)
    total = dir_at + ENTRY_SIZE * len(parts)
    if total > 0xFFFFFFFF:
        raise _invalid(f"{what}: the record would take {total} bytes, more than a record holds (2^32 - 1)")
    return parts, dir_at, total


def _write(mv: memoryview, parts: List[Tuple[bytes, int, Any, int, int]], dir_at: int, total: int) -> None:
    # Padding, reserved and flags are 0 (deterministic bytes): only the gaps are zeroed, each value is copied once.
    mv[:HEADER_SIZE] = bytes(HEADER_SIZE)
    _HEADER.pack_into(mv, 0, MAGIC, VERSION, HEADER_SIZE, len(parts), 0, dir_at, total)
    end = HEADER_SIZE
    for i, (name, code, data, name_at, value_at) in enumerate(parts):
        mv[name_at : name_at + len(name)] = name
        mv[name_at + len(name) : value_at] = bytes(value_at - name_at - len(name))  # its 0 byte, alignment padding
        end = value_at + len(data)
        mv[value_at:end] = data
        if code in (STRING, JSON):
            mv[end] = 0
            end += 1
        _ENTRY.pack_into(mv, dir_at + ENTRY_SIZE * i, name_at, len(name), code, 0, value_at, len(data))
    mv[end:dir_at] = bytes(dir_at - end)


class Parts:
    """Encode and decode Parts records (PROTOCOL.md §10)."""

    @staticmethod
    def size(record: Dict[str, Any]) -> int:
        """Bytes Parts.encode(record) produces (to size a loan)."""
        return _plan(record, "Parts.size")[2]

    @staticmethod
    def encode(record: Dict[str, Any]) -> bytes:
        """The record as one message: each part's name and value in dict order, then the directory.
        Raises ShmbusError ERR_INVALID_ARG for a value it cannot write."""
        parts, dir_at, total = _plan(record, "Parts.encode")
        out = bytearray(total)
        _write(memoryview(out), parts, dir_at, total)
        return bytes(out)

    @staticmethod
    def encode_into(buffer: Any, record: Dict[str, Any]) -> int:
        """Writes the record at the start of `buffer` (a writable buffer: a loan) and returns the bytes written.
        Nothing is written when it raises (ERR_INVALID_ARG, also for a buffer shorter than Parts.size(record))."""
        parts, dir_at, total = _plan(record, "Parts.encode_into")
        try:
            mv = memoryview(buffer).cast("B")
        except TypeError:
            raise _invalid("Parts.encode_into: needs a writable buffer (a loan, a bytearray)") from None
        if mv.readonly:
            raise _invalid("Parts.encode_into: the buffer is read-only")
        if mv.nbytes < total:
            raise _invalid(f"Parts.encode_into: the record needs {total} bytes, the buffer has {mv.nbytes}")
        _write(mv, parts, dir_at, total)
        return total

    @staticmethod
    def decode(buffer: Any) -> Dict[str, Any]:
        """Checks every rule of §10 (in its order), then returns the parts in directory order; bytes parts are
        memoryview slices of `buffer` (no copy: valid as long as the buffer is, e.g. until the message is released).
        Raises ShmbusError ERR_PARTS_CORRUPT for bytes that are not a valid record."""
        try:
            mv = memoryview(buffer).cast("B")
        except TypeError:
            raise _invalid(f"Parts.decode: needs a bytes-like object (msg.data), got {type(buffer).__name__}") from None
        n = mv.nbytes
        if n < HEADER_SIZE:
            raise _corrupt(f"{n} bytes, less than the {HEADER_SIZE}-byte header")
        magic, version, header, count, flags, dir_at, total = _HEADER.unpack_from(mv, 0)
        if magic != MAGIC:
            raise _corrupt("wrong magic (not a Parts record)")
        if version != VERSION:
            raise _corrupt(f"version {version} (this shmbus reads {VERSION})")
        if header < HEADER_SIZE or header % 8:
            raise _corrupt(f"header size {header}")
        if flags:
            raise _corrupt(f"unknown flags {flags}")
        if count > MAX_COUNT:
            raise _corrupt(f"{count} parts, more than {MAX_COUNT}")
        if dir_at % 8 or dir_at < header:
            raise _corrupt(f"directory offset {dir_at}")
        if total != dir_at + ENTRY_SIZE * count:
            raise _corrupt(f"total size {total}, but the directory ends at {dir_at + ENTRY_SIZE * count}")
        if total > n:
            raise _corrupt(f"{total} bytes needed, {n} given (truncated)")
        out: Dict[str, Any] = {}
        end = header
        for i in range(count):
            name_at, name_size, code, eflags, value_at, size = _ENTRY.unpack_from(mv, dir_at + ENTRY_SIZE * i)
            if eflags:
                raise _corrupt(f"part {i}: unknown flags {eflags}")
            if code not in TYPES:
                raise _corrupt(f"part {i}: unknown type {code}")
            if not 1 <= name_size <= MAX_NAME:
                raise _corrupt(f"part {i}: name size {name_size}")
            if name_at < end:
                raise _corrupt(f"part {i}: name at {name_at} overlaps what comes before ({end})")
            if name_at + name_size + 1 > value_at:
                raise _corrupt(f"part {i}: name at {name_at} (+{name_size}) runs into its value at {value_at}")
            if value_at % 8:
                raise _corrupt(f"part {i}: value offset {value_at} is not a multiple of 8")
            text = code in (STRING, JSON)
            value_end = value_at + size + (1 if text else 0)
            if value_end > dir_at:
                raise _corrupt(f"part {i}: value at {value_at} (+{size}) runs past the parts ({dir_at})")
            if code in (FLOAT64, INT64) and size != 8:
                raise _corrupt(f"part {i}: a number of {size} bytes (8)")
            if text and mv[value_at + size] != 0:
                raise _corrupt(f"part {i}: text value not followed by its 0 byte")
            if mv[name_at + name_size] != 0:
                raise _corrupt(f"part {i}: name not followed by its 0 byte")
            raw = bytes(mv[name_at : name_at + name_size])
            if b"\0" in raw:
                raise _corrupt(f"part {i}: name holds a 0 byte")
            try:
                name = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise _corrupt(f"part {i}: name is not valid UTF-8") from None
            if name in out:
                raise _corrupt(f"part {i}: a second part named {name!r}")
            value = mv[value_at : value_at + size]
            if code == BYTES:
                out[name] = value
            elif code == FLOAT64:
                out[name] = _F64.unpack_from(mv, value_at)[0]
            elif code == INT64:
                out[name] = _I64.unpack_from(mv, value_at)[0]
            else:
                try:
                    s = str(value, "utf-8")
                except UnicodeDecodeError:
                    raise _corrupt(f"part {name!r}: text is not valid UTF-8") from None
                if code == STRING:
                    out[name] = s
                else:
                    try:
                        out[name] = json.loads(s, parse_constant=_no_constant)
                    except (ValueError, RecursionError) as e:
                        raise _corrupt(f"part {name!r}: json value is not JSON ({e})") from None
            end = value_end
        return out


__all__ = ["Parts"]
