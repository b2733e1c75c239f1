"""The image operations of the image-service example in numpy (imageops.hpp has them in C++ loops, client.ts in
Node loops). All integer arithmetic, so every language computes the same pixels, bit for bit:

- gray: (77 R + 150 G + 29 B + 128) >> 8 of each pixel (alpha ignored), a GRAY frame;
- resize to w x h, nearest neighbour: output (x, y) is input ((x * W) // w, (y * H) // h), same format.

Also the test pattern the clients send: sample (x, y, c) = (x * (c + 1) + 2 * y * (3 - c) + 31 * seed + 85 * c) & 255.
"""
from typing import Any, Dict

import numpy as np

# Where R, G and B sit in a pixel of each format.
RGB_INDEX: Dict[str, tuple] = {"RGB": (0, 1, 2), "RGBA": (0, 1, 2), "BGR": (2, 1, 0), "BGRA": (2, 1, 0)}
CHANNELS = {"GRAY": 1, "RGB": 3, "BGR": 3, "RGBA": 4, "BGRA": 4}


def gray(img: Any, fmt: str) -> np.ndarray:
    """img: (h, w, c) uint8 in format fmt (RGB, BGR, RGBA or BGRA) -> (h, w) uint8."""
    if fmt not in RGB_INDEX:
        raise ValueError(f"gray needs an RGB, BGR, RGBA or BGRA image, got {fmt}")
    r, g, b = (img[:, :, i].astype(np.uint32) for i in RGB_INDEX[fmt])
    return ((77 * r + 150 * g + 29 * b + 128) >> 8).astype(np.uint8)


def resize(img: Any, width: int, height: int) -> np.ndarray:
    """Nearest neighbour to width x height (any number of channels)."""
    h, w = img.shape[0], img.shape[1]
    ys = (np.arange(height) * h) // height
    xs = (np.arange(width) * w) // width
    return np.ascontiguousarray(img[ys][:, xs])


def pattern(width: int, height: int, fmt: str, seed: int) -> np.ndarray:
    """The clients' test image: (height, width, channels) uint8."""
    c = np.arange(CHANNELS[fmt], dtype=np.int64)
    x = np.arange(width, dtype=np.int64)[None, :, None]
    y = np.arange(height, dtype=np.int64)[:, None, None]
    return ((x * (c + 1) + 2 * y * (3 - c) + 31 * seed + 85 * c) & 255).astype(np.uint8)
