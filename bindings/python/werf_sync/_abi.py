"""The C ABI as ctypes sees it: opaque handle types and the prototype of every function
this package calls, checked against ``include/werf_sync.h``.

Owned strings come back as ``char *`` declared here as ``c_void_p``, never ``c_char_p``:
ctypes would turn a ``c_char_p`` result into ``bytes`` and lose the pointer that must be
handed back to ``werf_sync_string_free``.
"""

from __future__ import annotations

import ctypes
import threading
from ctypes import POINTER, c_bool, c_char_p, c_int64, c_size_t, c_uint32, c_void_p
from pathlib import Path
from typing import Any

from .errors import Unsupported


class Sync(ctypes.Structure):
    """``WerfSync`` (opaque)."""


class Error(ctypes.Structure):
    """``WerfSyncError`` (opaque)."""


class Guard(ctypes.Structure):
    """``WerfSyncLockGuard`` (opaque)."""


class Handle(ctypes.Structure):
    """``WerfSyncLockHandle`` (opaque)."""


class Token(ctypes.Structure):
    """``WerfSyncCancelToken`` (opaque)."""


class StageId(ctypes.Structure):
    """``WerfSyncStageId``: a digest as (pointer, length) and the unique ID."""

    _fields_ = [("digest", c_void_p), ("digest_len", c_size_t), ("unique_id", c_int64)]


class StageList(ctypes.Structure):
    """``WerfSyncStageList`` (opaque)."""


class Address(ctypes.Structure):
    """``WerfSyncAddress`` (opaque)."""


STATUS = c_uint32
ERR = POINTER(POINTER(Error))
STR = (c_char_p, c_size_t)  # a string argument: pointer + length
NO_TIMEOUT = -1
MODE_EXCLUSIVE = 0
MODE_SHARED = 1

# name -> (restype, argtypes); a STR entry expands to its two parameters.
_PROTOTYPES: dict[str, tuple[Any, tuple[Any, ...]]] = {
    "werf_sync_version": (c_char_p, ()),
    "werf_sync_status_name": (c_char_p, (c_uint32,)),
    "werf_sync_error_status": (STATUS, (POINTER(Error),)),
    "werf_sync_error_message": (c_char_p, (POINTER(Error),)),
    "werf_sync_error_free": (None, (POINTER(Error),)),
    "werf_sync_string_free": (None, (c_void_p,)),
    "werf_sync_open": (STATUS, (STR, POINTER(POINTER(Sync)), ERR)),
    "werf_sync_free": (None, (POINTER(Sync),)),
    "werf_sync_home": (STATUS, (POINTER(Sync), POINTER(c_void_p), ERR)),
    "werf_sync_lock_file_path": (STATUS, (POINTER(Sync), STR, POINTER(c_void_p), ERR)),
    "werf_sync_cancel_token_new": (POINTER(Token), ()),
    "werf_sync_cancel_token_cancel": (STATUS, (POINTER(Token), ERR)),
    "werf_sync_cancel_token_is_cancelled": (c_bool, (POINTER(Token),)),
    "werf_sync_cancel_token_free": (None, (POINTER(Token),)),
    "werf_sync_try_lock": (STATUS, (POINTER(Sync), STR, c_uint32, POINTER(POINTER(Guard)), ERR)),
    "werf_sync_lock": (
        STATUS,
        (POINTER(Sync), STR, c_uint32, c_int64, POINTER(Token), POINTER(POINTER(Guard)), ERR),
    ),
    "werf_sync_lock_guard_release": (STATUS, (POINTER(Guard), ERR)),
    "werf_sync_lock_guard_free": (None, (POINTER(Guard),)),
    "werf_sync_lock_guard_mode": (c_uint32, (POINTER(Guard),)),
    "werf_sync_lock_handle_new": (STATUS, (STR, STR, POINTER(POINTER(Handle)), ERR)),
    "werf_sync_lock_handle_from_json": (STATUS, (STR, POINTER(POINTER(Handle)), ERR)),
    "werf_sync_lock_handle_to_json": (STATUS, (POINTER(Handle), POINTER(c_void_p), ERR)),
    "werf_sync_lock_handle_uuid": (c_char_p, (POINTER(Handle),)),
    "werf_sync_lock_handle_name": (c_void_p, (POINTER(Handle), POINTER(c_size_t))),
    "werf_sync_lock_handle_free": (None, (POINTER(Handle),)),
    "werf_sync_lock_stage": (
        STATUS,
        (POINTER(Sync), STR, STR, c_int64, POINTER(Token), POINTER(POINTER(Handle)), ERR),
    ),
    "werf_sync_manager_lock": (
        STATUS,
        (POINTER(Sync), STR, c_uint32, c_int64, POINTER(Token), POINTER(POINTER(Handle)), ERR),
    ),
    "werf_sync_manager_try_lock": (STATUS, (POINTER(Sync), STR, c_uint32, POINTER(POINTER(Handle)), ERR)),
    "werf_sync_unlock": (STATUS, (POINTER(Sync), POINTER(Handle), ERR)),
    "werf_sync_open_address": (STATUS, (STR, STR, POINTER(POINTER(Sync)), ERR)),
    "werf_sync_open_address_with_client_id": (STATUS, (STR, STR, STR, POINTER(POINTER(Sync)), ERR)),
    "werf_sync_client_id": (STATUS, (POINTER(Sync), POINTER(c_void_p), ERR)),
    "werf_sync_lock_lost": (STATUS, (POINTER(Sync), POINTER(Handle), ERR)),
    "werf_sync_cache_get_all_stages": (STATUS, (POINTER(Sync), STR, POINTER(POINTER(StageList)), ERR)),
    "werf_sync_cache_get_stages_by_digest": (
        STATUS,
        (POINTER(Sync), STR, STR, POINTER(POINTER(StageList)), ERR),
    ),
    "werf_sync_cache_store_stages_by_digest": (
        STATUS,
        (POINTER(Sync), STR, STR, POINTER(StageId), c_size_t, ERR),
    ),
    "werf_sync_cache_delete_stages_by_digest": (STATUS, (POINTER(Sync), STR, STR, ERR)),
    "werf_sync_cache_delete_all_stages": (STATUS, (POINTER(Sync), STR, ERR)),
    "werf_sync_stage_list_items": (POINTER(StageId), (POINTER(StageList), POINTER(c_size_t))),
    "werf_sync_stage_list_free": (None, (POINTER(StageList),)),
    "werf_sync_address_parse": (STATUS, (STR, POINTER(POINTER(Address)), ERR)),
    "werf_sync_address_mode": (c_uint32, (POINTER(Address),)),
    "werf_sync_address_part": (
        STATUS,
        (POINTER(Address), c_uint32, POINTER(c_void_p), POINTER(c_size_t), ERR),
    ),
    "werf_sync_address_free": (None, (POINTER(Address),)),
}


def _flatten(argtypes: tuple[Any, ...]) -> list[Any]:
    flat: list[Any] = []
    for arg in argtypes:
        flat.extend(arg if isinstance(arg, tuple) else (arg,))
    return flat


class MissingFunction(Unsupported):
    """The loaded library lacks a function this package wants (an older build)."""


class Library:
    """The loaded library with typed functions as attributes (``lib.werf_sync_open``).

    Functions are looked up on first use, so a library built before an entry point existed
    still serves everything else; using the missing one raises :class:`MissingFunction`
    naming it and the library file.
    """

    def __init__(self, cdll: ctypes.CDLL, path: Path) -> None:
        self._cdll = cdll
        self.path = path

    def __getattr__(self, name: str) -> Any:
        if name not in _PROTOTYPES:
            raise AttributeError(name)
        try:
            function = getattr(self._cdll, name)
        except AttributeError:
            raise MissingFunction(
                f"the werf-sync library {self.path} has no function {name}; "
                f"rebuild it from a newer werf-sync (`cargo build`)"
            ) from None
        restype, argtypes = _PROTOTYPES[name]
        function.restype = restype
        function.argtypes = _flatten(argtypes)
        setattr(self, name, function)  # cache: later lookups skip __getattr__
        return function


_loaded: Library | None = None
_loading = threading.Lock()


def lib() -> Library:
    """The process-wide library, loaded on first use."""
    global _loaded
    if _loaded is None:
        with _loading:
            if _loaded is None:
                from ._library import load_library

                cdll, path = load_library()
                _loaded = Library(cdll, path)
    return _loaded
