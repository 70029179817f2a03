"""werf's ``--synchronization`` address, parsed by the library exactly as werf parses it."""

from __future__ import annotations

import ctypes
import enum
from dataclasses import dataclass, field
from typing import Any, Optional

from . import _abi
from ._call import call, encode
from .errors import NotFound


class AddressMode(str, enum.Enum):
    """The kind of synchronization an address selects."""

    LOCAL = "local"  #: ``:local`` — file locks and cache below the werf home (this library)
    KUBERNETES = "kubernetes"  #: ``kubernetes://NAMESPACE[:CONTEXT][@CONFIG]``
    HTTP = "http"  #: ``http(s)://…`` — a werf synchronization server


_MODES = {0: AddressMode.LOCAL, 1: AddressMode.KUBERNETES, 2: AddressMode.HTTP}
# WERF_SYNC_ADDRESS_PART_* values.
_TEXT, _REDACTED, _NAMESPACE, _CONTEXT, _KUBECONFIG_PATH, _KUBECONFIG_DATA, _HTTP_URL = range(7)


@dataclass(frozen=True)
class Address:
    """A parsed synchronization address. Parts that do not apply to its mode are None.

    ``repr()`` and ``str()`` show only the redacted form: ``text``, ``kubeconfig_data`` and
    ``http_url`` may hold secrets (kubeconfig data, URL credentials)."""

    mode: AddressMode
    #: The form for logs: kubeconfig data and URL credentials removed.
    redacted: str
    #: The address text; parsing it again gives an equal address. May hold secrets.
    text: str = field(repr=False)
    kubernetes_namespace: Optional[str] = None
    kubernetes_context: Optional[str] = None
    kubeconfig_path: Optional[str] = None
    kubeconfig_data: Optional[bytes] = field(default=None, repr=False)
    http_url: Optional[str] = field(default=None, repr=False)

    def __str__(self) -> str:
        return self.redacted


def _part(ptr: Any, part: int) -> Optional[bytes]:
    """One part's bytes, or None when the address has no such part."""
    data, length = ctypes.c_void_p(), ctypes.c_size_t()
    try:
        call(_abi.lib().werf_sync_address_part, ptr, part, ctypes.byref(data), ctypes.byref(length))
    except NotFound:
        return None
    return ctypes.string_at(data.value, length.value) if data.value else b""


def _text(ptr: Any, part: int) -> Optional[str]:
    raw = _part(ptr, part)
    return None if raw is None else raw.decode("utf-8")


def parse_address(text: str) -> Address:
    """Parses a ``--synchronization`` address as werf does: ``:local`` exactly,
    ``kubernetes://…`` or ``http(s)://…``. Anything else, including "" (which werf reads as
    "the default"), raises :class:`~werf_sync.InvalidArgument` with werf's message."""
    data = encode(text, "synchronization address")
    ptr = ctypes.POINTER(_abi.Address)()
    lib = _abi.lib()
    call(lib.werf_sync_address_parse, data, len(data), ctypes.byref(ptr))
    try:
        return Address(
            mode=_MODES[lib.werf_sync_address_mode(ptr)],
            redacted=_text(ptr, _REDACTED) or "",
            text=_text(ptr, _TEXT) or "",
            kubernetes_namespace=_text(ptr, _NAMESPACE),
            kubernetes_context=_text(ptr, _CONTEXT),
            kubeconfig_path=_text(ptr, _KUBECONFIG_PATH),
            kubeconfig_data=_part(ptr, _KUBECONFIG_DATA),
            http_url=_text(ptr, _HTTP_URL),
        )
    finally:
        lib.werf_sync_address_free(ptr)
