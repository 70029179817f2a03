"""werf's stages storage cache (``<home>/local_cache/...``): the five operations of werf's
``StagesStorageCache`` interface, with stage IDs as :class:`StageId` tuples."""

from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING, Any, Iterable, List, NamedTuple, Optional, Tuple

from . import _abi
from ._call import call, encode
from .errors import InvalidArgument

if TYPE_CHECKING:
    from .sync import Sync

_INT64 = (-(2**63), 2**63 - 1)


class StageId(NamedTuple):
    """One stage in the stages storage: its digest and its unique ID, the Unix epoch time in
    milliseconds when it was stored. ``str()`` gives werf's image tag form
    ``DIGEST-UNIXMILLIS``."""

    digest: str
    unique_id: int

    def __str__(self) -> str:
        return f"{self.digest}-{self.unique_id}"


def _take_list(ptr: Any) -> Optional[List[StageId]]:
    """The stages of a C stage list (None for a NULL list: a miss); frees the list."""
    if not ptr:
        return None
    lib = _abi.lib()
    try:
        count = ctypes.c_size_t()
        items = lib.werf_sync_stage_list_items(ptr, ctypes.byref(count))
        return [
            StageId(ctypes.string_at(item.digest, item.digest_len).decode("utf-8"), item.unique_id)
            for item in items[: count.value]
        ]
    finally:
        lib.werf_sync_stage_list_free(ptr)


def _c_stages(stages: Iterable[Tuple[str, int]]) -> Tuple[Any, int, List[bytes]]:
    """A C array of stage IDs, its length, and the encoded digests it points into (keep
    those alive for the call)."""
    stages = list(stages)
    array = (_abi.StageId * len(stages))()
    digests: List[bytes] = []
    for i, stage in enumerate(stages):
        try:
            digest, unique_id = stage
        except (TypeError, ValueError):
            raise InvalidArgument(
                f"invalid stage {i}: expected StageId(digest, unique_id), got {stage!r}"
            ) from None
        data = encode(digest, f"digest of stage {i}")
        if (
            isinstance(unique_id, bool)
            or not isinstance(unique_id, int)
            or not _INT64[0] <= unique_id <= _INT64[1]
        ):
            raise InvalidArgument(f"invalid unique ID of stage {i}: {unique_id!r} is not a 64-bit integer")
        digests.append(data)
        array[i].digest = ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p)
        array[i].digest_len = len(data)
        array[i].unique_id = unique_id
    return array, len(stages), digests


class StagesStorageCache:
    """werf's stages storage cache of a :class:`~werf_sync.Sync`'s werf home, as
    ``sync.cache``. Records are written atomically under werf's cache lock, so Go werf and
    this library can share it. Safe to use from any number of threads."""

    def __init__(self, sync: "Sync") -> None:
        self._sync = sync

    def get_all_stages(self, project: str) -> Optional[List[StageId]]:
        """Every stage cached for ``project`` over all its digests; None when nothing is
        cached for it (an empty list means "cached: no stages")."""
        p = encode(project, "project")

        def body(ptr: Any) -> Optional[List[StageId]]:
            out = ctypes.POINTER(_abi.StageList)()
            call(_abi.lib().werf_sync_cache_get_all_stages, ptr, p, len(p), ctypes.byref(out))
            return _take_list(out)

        return self._sync._use(body)

    def get_stages_by_digest(self, project: str, digest: str) -> Optional[List[StageId]]:
        """The stages cached for ``digest`` of ``project``; None on a miss (no record, or
        one that cannot be read)."""
        p, d = encode(project, "project"), encode(digest, "digest")

        def body(ptr: Any) -> Optional[List[StageId]]:
            out = ctypes.POINTER(_abi.StageList)()
            call(
                _abi.lib().werf_sync_cache_get_stages_by_digest, ptr, p, len(p), d, len(d), ctypes.byref(out)
            )
            return _take_list(out)

        return self._sync._use(body)

    def store_stages_by_digest(self, project: str, digest: str, stages: Iterable[Tuple[str, int]]) -> None:
        """Replaces the record of ``digest`` in ``project`` with ``stages`` (StageId or
        ``(digest, unique_id)`` pairs; none records "cached: no stages"), atomically."""
        p, d = encode(project, "project"), encode(digest, "digest")
        array, count, _keep = _c_stages(stages)
        self._sync._use(
            lambda ptr: call(
                _abi.lib().werf_sync_cache_store_stages_by_digest, ptr, p, len(p), d, len(d), array, count
            )
        )

    def delete_stages_by_digest(self, project: str, digest: str) -> None:
        """Deletes the record of ``digest`` in ``project``; a missing record is fine."""
        p, d = encode(project, "project"), encode(digest, "digest")
        self._sync._use(
            lambda ptr: call(_abi.lib().werf_sync_cache_delete_stages_by_digest, ptr, p, len(p), d, len(d))
        )

    def delete_all_stages(self, project: str) -> None:
        """Deletes every record of ``project`` — werf's cache reset after a
        :class:`~werf_sync.ShouldResetCache` error. Readers see all of it or none."""
        p = encode(project, "project")
        self._sync._use(lambda ptr: call(_abi.lib().werf_sync_cache_delete_all_stages, ptr, p, len(p)))
