"""Calling the C ABI: string arguments in, owned strings out, status codes to exceptions."""

from __future__ import annotations

import ctypes
import math
import os
from typing import Any, Callable, Optional, Union

from . import _abi
from .errors import InvalidArgument, from_status


def encode(value: Union[str, "os.PathLike[str]"], what: str) -> bytes:
    """``value`` as UTF-8 bytes for a (pointer, length) argument; ``what`` names the argument
    in the error. A ``str`` holding lone surrogates (undecodable file names) is rejected here,
    as the library would reject the bytes."""
    if type(value) is str:  # the common case first: isinstance against os.PathLike is slow
        pass
    elif isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise InvalidArgument(f"invalid {what}: expected str, got {type(value).__name__} {value!r}")
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError as err:
        raise InvalidArgument(f"invalid {what}: {value!r} is not valid Unicode text ({err.reason})") from None


def timeout_ms(timeout: Optional[float]) -> int:
    """A timeout in seconds (None or ``inf``: wait as long as it takes) as the C ABI's
    milliseconds, rounded up so a tiny positive timeout still waits."""
    if timeout is None or timeout == math.inf:
        return _abi.NO_TIMEOUT
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise InvalidArgument(f"invalid timeout: expected seconds as a number or None, got {timeout!r}")
    if math.isnan(timeout) or timeout < 0:
        raise InvalidArgument(
            f"invalid timeout: {timeout!r} s; give seconds >= 0, or None to wait as long as it takes"
        )
    return math.ceil(timeout * 1000)


_ErrorPointer = ctypes.POINTER(_abi.Error)


def call(function: Callable[..., int], *args: Any, lock_name: Optional[str] = None) -> None:
    """Calls ``function(*args, &error)`` and raises the exception for a failure status, with
    the message from the error object of the same call (then freed)."""
    error = _ErrorPointer()
    status = function(*args, ctypes.byref(error))
    if status == 0:
        return
    lib = _abi.lib()
    try:
        raw = lib.werf_sync_error_message(error) if error else None
        message = raw.decode("utf-8", "replace") if raw else f"werf-sync call failed with status {status}"
    finally:
        lib.werf_sync_error_free(error)
    raise from_status(status, message, lock_name=lock_name)


def take_string(pointer: ctypes.c_void_p) -> str:
    """Copies an owned C string out and frees it with ``werf_sync_string_free``."""
    lib = _abi.lib()
    try:
        return ctypes.string_at(pointer.value).decode("utf-8") if pointer.value else ""
    finally:
        lib.werf_sync_string_free(pointer)
