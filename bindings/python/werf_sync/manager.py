"""werf's lock manager: locks held by the :class:`~werf_sync.Sync` under a
:class:`LockHandle`, as werf's lock manager and lockgate do, until
:meth:`ManagerOps.unlock` or ``Sync.close()``.

werf's operations are lock names (:mod:`werf_sync.names`); every method here takes a name,
except :meth:`ManagerOps.lock_stage`, werf's most common one, and the one-line helpers
over :mod:`~werf_sync.names`.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar

from . import _abi, names
from ._call import call, encode, take_string, timeout_ms
from .errors import LostLease, WouldBlock

if TYPE_CHECKING:
    from .cancel import CancelToken

T = TypeVar("T")


@dataclass(frozen=True)
class LockHandle:
    """A lock held through the lock manager, as werf and lockgate identify it: a random
    UUID and the lock name. It round-trips through lockgate's JSON form
    ``{"uuid":"…","lockName":"…"}`` (:meth:`to_json`, :meth:`from_json`), so a handle may
    be handed to another program and unlocked there through the same ``Sync``."""

    uuid: str
    lock_name: str

    def to_json(self) -> str:
        """lockgate's JSON form of the handle."""
        with _CHandle(self) as ptr:
            out = ctypes.c_void_p()
            call(_abi.lib().werf_sync_lock_handle_to_json, ptr, ctypes.byref(out))
            return take_string(out)

    @classmethod
    def from_json(cls, text: str) -> "LockHandle":
        """A handle from lockgate's JSON form; malformed JSON raises InvalidArgument."""
        data = encode(text, "lock handle JSON")
        ptr = ctypes.POINTER(_abi.Handle)()
        call(_abi.lib().werf_sync_lock_handle_from_json, data, len(data), ctypes.byref(ptr))
        return _take_handle(ptr)


class _CHandle:
    """A temporary C handle for a Python :class:`LockHandle`, freed on exit."""

    def __init__(self, handle: LockHandle) -> None:
        self._handle = handle
        self._ptr = ctypes.POINTER(_abi.Handle)()

    def __enter__(self) -> Any:
        uuid = encode(self._handle.uuid, "lock handle uuid")
        name = encode(self._handle.lock_name, "lock handle name")
        call(_abi.lib().werf_sync_lock_handle_new, uuid, len(uuid), name, len(name), ctypes.byref(self._ptr))
        return self._ptr

    def __exit__(self, *exc: object) -> None:
        _abi.lib().werf_sync_lock_handle_free(self._ptr)


def _take_handle(ptr: Any) -> LockHandle:
    """Copies a C lock handle into a :class:`LockHandle` and frees the C one."""
    lib = _abi.lib()
    try:
        length = ctypes.c_size_t()
        name = lib.werf_sync_lock_handle_name(ptr, ctypes.byref(length))
        return LockHandle(
            uuid=lib.werf_sync_lock_handle_uuid(ptr).decode("utf-8"),
            lock_name=ctypes.string_at(name, length.value).decode("utf-8"),
        )
    finally:
        lib.werf_sync_lock_handle_free(ptr)


class ManagerOps:
    """werf's lock manager operations; mixed into :class:`~werf_sync.Sync`.

    Every waiting method takes ``timeout`` (seconds; None waits as long as it takes, as werf
    does) and ``cancel`` (a :class:`~werf_sync.CancelToken`), and raises Timeout / Cancelled
    like ``Sync.lock``.
    """

    def _use(self, body: Callable[[Any], T]) -> T:  # provided by Sync
        raise NotImplementedError

    def _wait(self, body: Callable[[Any, Any], T], cancel: Optional["CancelToken"], lock_name: str) -> T:
        raise NotImplementedError  # provided by Sync

    def manager_lock(
        self,
        name: str,
        shared: bool = False,
        timeout: Optional[float] = None,
        cancel: Optional["CancelToken"] = None,
    ) -> LockHandle:
        """Acquires lock ``name`` through the lock manager (lockgate's ``Acquire``), held
        until :meth:`unlock` or ``Sync.close()``; names of werf's operations come from
        :mod:`werf_sync.names`."""
        mode = _abi.MODE_SHARED if shared else _abi.MODE_EXCLUSIVE
        data = encode(name, "lock name")
        ms = timeout_ms(timeout)

        def body(ptr: Any, token: Any) -> LockHandle:
            out = ctypes.POINTER(_abi.Handle)()
            fn = _abi.lib().werf_sync_manager_lock
            call(fn, ptr, data, len(data), mode, ms, token, ctypes.byref(out), lock_name=name)
            return _take_handle(out)

        return self._wait(body, cancel, name)

    def manager_try_lock(self, name: str, shared: bool = False) -> Optional[LockHandle]:
        """One non-blocking attempt through the lock manager (lockgate's ``Acquire`` with
        ``NonBlocking``); None when the lock is held elsewhere."""
        mode = _abi.MODE_SHARED if shared else _abi.MODE_EXCLUSIVE
        data = encode(name, "lock name")

        def body(ptr: Any) -> Optional[LockHandle]:
            out = ctypes.POINTER(_abi.Handle)()
            try:
                call(
                    _abi.lib().werf_sync_manager_try_lock,
                    ptr,
                    data,
                    len(data),
                    mode,
                    ctypes.byref(out),
                    lock_name=name,
                )
            except WouldBlock:
                return None
            return _take_handle(out)

        return self._use(body)

    def lock_stage(
        self,
        project: str,
        digest: str,
        timeout: Optional[float] = None,
        cancel: Optional["CancelToken"] = None,
    ) -> LockHandle:
        """werf's ``LockStage``: exclusive lock ``PROJECT.DIGEST`` (:func:`names.stage`).
        An invalid project or digest is an InvalidArgument naming which."""
        p, d = encode(project, "project"), encode(digest, "digest")
        ms = timeout_ms(timeout)
        name = names.stage(project, digest)

        def body(ptr: Any, token: Any) -> LockHandle:
            out = ctypes.POINTER(_abi.Handle)()
            call(
                _abi.lib().werf_sync_lock_stage,
                ptr,
                p,
                len(p),
                d,
                len(d),
                ms,
                token,
                ctypes.byref(out),
                lock_name=name,
            )
            return _take_handle(out)

        return self._wait(body, cancel, name)

    # One line each over manager_lock and a name builder.

    def lock_stage_cache(
        self,
        project: str,
        digest: str,
        timeout: Optional[float] = None,
        cancel: Optional["CancelToken"] = None,
    ) -> LockHandle:
        """werf's ``LockStageCache`` (werf <= v1.2.76): exclusive lock ``PROJECT.DIGEST.cache``."""
        return self.manager_lock(names.stage_cache(project, digest), timeout=timeout, cancel=cancel)

    def lock_image(
        self, image: str, timeout: Optional[float] = None, cancel: Optional["CancelToken"] = None
    ) -> LockHandle:
        """werf's ``LockImage`` (werf v1.1): exclusive lock ``IMAGE.image``."""
        return self.manager_lock(names.image(image), timeout=timeout, cancel=cancel)

    def lock_stages_and_images(
        self,
        project: str,
        shared: bool = False,
        timeout: Optional[float] = None,
        cancel: Optional["CancelToken"] = None,
    ) -> LockHandle:
        """werf's ``LockStagesAndImages`` (werf v1.1): lock ``PROJECT.stages_and_images``,
        shared when werf only gets or creates images."""
        return self.manager_lock(names.stages_and_images(project), shared, timeout, cancel)

    def lock_deploy_process(
        self,
        project: str,
        release: str,
        kube_context: str,
        timeout: Optional[float] = None,
        cancel: Optional["CancelToken"] = None,
    ) -> LockHandle:
        """werf's ``LockDeployProcess`` (werf v1.1): exclusive lock
        ``project/PROJECT;release/RELEASE;kube_context/CONTEXT``."""
        return self.manager_lock(names.deploy_process(project, release, kube_context), False, timeout, cancel)

    def unlock(self, handle: LockHandle) -> None:
        """Releases the lock ``handle`` identifies (lockgate's ``Release``). Raises NotFound
        when this Sync does not hold it (never acquired here, or already unlocked)."""
        with _CHandle(handle) as c_handle:
            self._use(
                lambda ptr: call(_abi.lib().werf_sync_unlock, ptr, c_handle, lock_name=handle.lock_name)
            )

    def lost(self, handle: LockHandle) -> Optional[LostLease]:
        """The :class:`~werf_sync.LostLease` error of a lock whose lease was lost while held
        (on a synchronization server), None while it is not known to be lost (always for
        ``:local`` locks). A lost lock protects nothing: stop the work it guards, then
        :meth:`unlock` (which raises the same error). Cheap (no request): poll it freely."""
        with _CHandle(handle) as c_handle:
            try:
                self._use(
                    lambda ptr: call(_abi.lib().werf_sync_lock_lost, ptr, c_handle, lock_name=handle.lock_name)
                )
            except LostLease as err:
                return err
        return None
