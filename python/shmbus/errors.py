"""ShmbusError and the mapping of the C library's error enum to the Node error codes (docs/errors.md)."""
from __future__ import annotations

from typing import Dict, Optional, Type

# C enum value (c/shmbus.h, fixed in the round-3 decisions) -> Node code. EAGAIN (-20) and EEND (-21) are not
# errors in Python: the wrappers turn them into None / False before they could reach here.
C_CODES: Dict[int, str] = {
    -1: "ERR_INVALID_ARG",
    -2: "ERR_INVALID_NAME",
    -3: "ERR_SHM_NOT_FOUND",
    -4: "ERR_SHM_EXISTS",
    -5: "ERR_SHM_KIND",
    -6: "ERR_SHM_VERSION",
    -7: "ERR_SHM_CORRUPT",
    -8: "ERR_SHM_NO_SPACE",
    -9: "ERR_SHM_PERMISSION",
    -10: "ERR_TIMEOUT",
    -11: "ERR_CLOSED",
    -12: "ERR_MESSAGE_TOO_LARGE",
    -13: "ERR_NOT_OWNER",
    -14: "ERR_NO_SERVER",
    -15: "ERR_REMOTE",
    -16: "ERR_PUBLISHER_EXISTS",
    -17: "ERR_TOO_MANY_WORKERS",
    -18: "ERR_OS",
    -19: "ERR_ABORTED",
    -22: "ERR_PARTS_CORRUPT",
}
EAGAIN = -20
EEND = -21


class ShmbusError(Exception):
    """Every shmbus failure. `code` is stable (the Node package's codes); `message` may change."""

    code: str
    message: str
    errno: Optional[int]

    def __init__(self, code: str, message: str = "", *, errno: Optional[int] = None) -> None:
        # Not super().__init__(code, message): the OSError-derived subclasses would read two arguments as
        # (errno, strerror). One argument gives every subclass the same str().
        Exception.__init__(self, message or code)
        self.code = code
        self.message = message or code
        self.errno = errno

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if not self.message.startswith(self.code) else self.message

    def __reduce__(self):  # picklable across multiprocessing, as exceptions are expected to be
        return (_rebuild, (self.code, self.message, self.errno))


class ShmbusTimeoutError(ShmbusError, TimeoutError):
    """ERR_TIMEOUT: the time ran out."""


class ShmbusNotFoundError(ShmbusError, FileNotFoundError):
    """ERR_SHM_NOT_FOUND: no segment (or file) of that name."""


class ShmbusExistsError(ShmbusError, FileExistsError):
    """ERR_SHM_EXISTS: the name is taken."""


class ShmbusPermissionError(ShmbusError, PermissionError):
    """ERR_SHM_PERMISSION: another user's object, or its mode forbids access."""


_BY_CODE: Dict[str, Type[ShmbusError]] = {
    "ERR_TIMEOUT": ShmbusTimeoutError,
    "ERR_SHM_NOT_FOUND": ShmbusNotFoundError,
    "ERR_SHM_EXISTS": ShmbusExistsError,
    "ERR_SHM_PERMISSION": ShmbusPermissionError,
}


def make_error(code: str, message: str = "", *, errno: Optional[int] = None) -> ShmbusError:
    """The ShmbusError (or the subclass Python users expect) for a Node code."""
    err = _BY_CODE.get(code, ShmbusError)(code, message, errno=errno)
    if errno is not None and isinstance(err, OSError):
        err.errno = errno  # OSError's own attribute, settable
    return err


def _rebuild(code: str, message: str, errno: Optional[int]) -> ShmbusError:
    return make_error(code, message, errno=errno)


def code_of(status: int) -> str:
    """The Node code of a negative C status (unknown values count as ERR_OS: a newer C library)."""
    return C_CODES.get(status, "ERR_OS")
