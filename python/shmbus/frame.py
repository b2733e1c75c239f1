"""The Frame codec (PROTOCOL.md §9): one image as one message, a 64-byte header then the pixel rows.

    f = shmbus.Frame.decode(msg.data)        # f.array: numpy (h, w, c) sharing the message's memory, no copy
    pub.publish(shmbus.Frame.encode(img, format="BGR"))
    with pub.loan(shmbus.Frame.size(w, h, "BGR")) as buf:      # zero-copy: render into the ring
        pixels = shmbus.Frame.write_header(buf, w, h, "BGR")    # numpy (h, w, 3) over the loan

Pure Python over struct and numpy: a frame is plain bytes inside a message the channel already handed over.
"""
from __future__ import annotations

import struct
from typing import Any, Optional

from .errors import make_error

MAGIC = 0x52464253  # "SBFR"
VERSION = 1
HEADER_SIZE = 64
_HEADER = struct.Struct("<IHHIIIHHIIQI")  # magic .. dataSize (44 bytes); 44..63 reserved
DTYPES = {1: "uint8", 2: "uint16", 3: "float32"}
FORMATS = {1: "GRAY", 2: "RGB", 3: "BGR", 4: "RGBA", 5: "BGRA"}
CHANNELS = {"GRAY": 1, "RGB": 3, "BGR": 3, "RGBA": 4, "BGRA": 4}
_SAMPLE = {"uint8": 1, "uint16": 2, "float32": 4}


def _invalid(why: str) -> Exception:
    return make_error("ERR_INVALID_ARG", f"not a valid frame: {why}")


def _geometry(width: int, height: int, fmt: str, dtype: str, stride: int) -> int:
    """The row stride to use (0 = packed); raises ERR_INVALID_ARG for impossible dimensions."""
    if fmt not in CHANNELS:
        raise make_error("ERR_INVALID_ARG", f"format must be one of {', '.join(CHANNELS)}, got {fmt!r}")
    if dtype not in _SAMPLE:
        raise make_error("ERR_INVALID_ARG", f"dtype must be one of {', '.join(_SAMPLE)}, got {dtype!r}")
    if width < 1 or height < 1:
        raise make_error("ERR_INVALID_ARG", f"width and height must be >= 1, got {width}x{height}")
    bps = _SAMPLE[dtype]
    row = width * CHANNELS[fmt] * bps
    s = stride or row
    if s < row or s % bps or s > 0xFFFFFFFF or s * height > 0xFFFFFFFF:
        raise make_error("ERR_INVALID_ARG", f"stride {s} does not fit rows of {row} bytes of {dtype}")
    return s


class FrameView:
    """A decoded frame: its fields and `array`, a numpy view of the pixels (shape (h, w, c); (h, w) for GRAY)."""

    __slots__ = ("width", "height", "channels", "dtype", "format", "stride", "timestamp_us", "data", "array")

    def __init__(self, width: int, height: int, dtype: str, fmt: str, stride: int, timestamp: int, data: memoryview) -> None:
        self.width = width
        self.height = height
        self.channels = CHANNELS[fmt]
        self.dtype = dtype
        self.format = fmt
        self.stride = stride
        self.timestamp_us = timestamp  # microseconds since the Unix epoch, 0 = none
        self.data = data  # the stride-wide rows, padding included
        self.array = _view(data, width, height, self.channels, dtype, stride)

    @property
    def timestamp(self) -> float:
        """Seconds since the Unix epoch (µs resolution), like Message.timestamp; 0.0 = none."""
        return self.timestamp_us / 1e6


def _view(data: Any, width: int, height: int, channels: int, dtype: str, stride: int) -> Any:
    import numpy as np

    bps = _SAMPLE[dtype]
    rows = np.frombuffer(data, dtype=np.dtype(dtype).newbyteorder("<"), count=stride * height // bps)
    shape = (height, width, channels) if channels > 1 else (height, width)
    strides = (stride, channels * bps, bps) if channels > 1 else (stride, bps)
    # A view (writable when the message is): as_strided only re-describes the rows, it never copies.
    return np.lib.stride_tricks.as_strided(rows, shape=shape, strides=strides)


class Frame:
    """Encode and decode frames (PROTOCOL.md §9)."""

    @staticmethod
    def size(width: int, height: int, format: str = "BGR", dtype: str = "uint8", stride: int = 0) -> int:
        """Bytes of a frame message of these dimensions (header + stride x height; stride 0 = packed)."""
        return HEADER_SIZE + _geometry(width, height, format, dtype, stride) * height

    @staticmethod
    def decode(data: Any) -> FrameView:
        """Checks every rule of §9, then views the pixels inside `data` (bytes, memoryview, numpy...) without a copy."""
        mv = memoryview(data).cast("B")
        n = mv.nbytes
        if n < HEADER_SIZE:
            raise _invalid(f"{n} bytes, shorter than the 64-byte header")
        magic, version, header, width, height, channels, dtype, fmt, stride, flags, ts, size = _HEADER.unpack_from(mv, 0)
        if magic != MAGIC:
            raise _invalid("bad magic")
        if version != VERSION:
            raise _invalid(f"version {version} (this reader knows 1)")
        if header < HEADER_SIZE or header % 8:
            raise _invalid(f"headerSize {header}")
        if flags:
            raise _invalid("unknown flags")
        if dtype not in DTYPES or fmt not in FORMATS:
            raise _invalid(f"dtype {dtype}, format {fmt}")
        name, fname = DTYPES[dtype], FORMATS[fmt]
        try:
            s = _geometry(width, height, fname, name, stride)
        except Exception:
            raise _invalid(f"{width}x{height}, stride {stride}") from None
        if stride == 0 or channels != CHANNELS[fname]:
            raise _invalid(f"{channels} channels, stride {stride}")
        if size != s * height:
            raise _invalid(f"dataSize {size}, stride x height is {s * height}")
        if n < header + size:
            raise _invalid(f"{n} bytes, the frame needs {header + size}")
        return FrameView(width, height, name, fname, s, ts, mv[header : header + size])

    @staticmethod
    def write_header(buf: Any, width: int, height: int, format: str = "BGR", dtype: str = "uint8", *, stride: int = 0,
                     timestamp_us: int = 0) -> Any:
        """Writes the header into `buf` (a writable buffer of at least Frame.size() bytes: a loan) and returns a numpy
        view of its pixel rows (h, w, c) to render into, without a copy."""
        s = _geometry(width, height, format, dtype, stride)
        mv = memoryview(buf).cast("B")
        need = HEADER_SIZE + s * height
        if mv.nbytes < need:
            raise make_error("ERR_MESSAGE_TOO_LARGE", f"a {width}x{height} {format} {dtype} frame needs {need} bytes, the buffer has {mv.nbytes}")
        mv[:HEADER_SIZE] = bytes(HEADER_SIZE)
        fmt_code = next(k for k, v in FORMATS.items() if v == format)
        dtype_code = next(k for k, v in DTYPES.items() if v == dtype)
        _HEADER.pack_into(mv, 0, MAGIC, VERSION, HEADER_SIZE, width, height, CHANNELS[format], dtype_code, fmt_code, s, 0,
                          timestamp_us, s * height)
        return _view(mv[HEADER_SIZE:need], width, height, CHANNELS[format], dtype, s)

    @staticmethod
    def encode(array: Any, format: Optional[str] = None, *, timestamp_us: int = 0, stride: int = 0) -> bytes:
        """A frame message holding a numpy array of shape (h, w, c) or (h, w) (uint8, uint16 or float32). `format`
        defaults to GRAY, BGR or BGRA by the channel count."""
        import numpy as np

        a = np.asarray(array)
        if a.ndim not in (2, 3):
            raise make_error("ERR_INVALID_ARG", f"a frame is (h, w) or (h, w, c), got shape {a.shape}")
        channels = 1 if a.ndim == 2 else a.shape[2]
        fmt = format or {1: "GRAY", 3: "BGR", 4: "BGRA"}.get(channels, "")
        if CHANNELS.get(fmt) != channels:
            raise make_error("ERR_INVALID_ARG", f"format {fmt!r} does not have {channels} channels")
        height, width = a.shape[0], a.shape[1]
        dtype = a.dtype.name
        out = bytearray(Frame.size(width, height, fmt, dtype, stride))
        pixels = Frame.write_header(out, width, height, fmt, dtype, stride=stride, timestamp_us=timestamp_us)
        pixels[...] = a.reshape(pixels.shape)
        return bytes(out)


__all__ = ["Frame", "FrameView"]
