"""shmbus: the Python peer of the shared-memory message bus (PROTOCOL.md version 2), built on the C peer."""
from __future__ import annotations

from .errors import (
    ShmbusError,
    ShmbusExistsError,
    ShmbusNotFoundError,
    ShmbusPermissionError,
    ShmbusTimeoutError,
)

__all__ = [
    "ShmbusError",
    "ShmbusExistsError",
    "ShmbusNotFoundError",
    "ShmbusPermissionError",
    "ShmbusTimeoutError",
]
