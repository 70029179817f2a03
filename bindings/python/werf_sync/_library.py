"""Finding and loading the werf-sync shared library (``libwerf_sync.so``).

The package is pure Python: it needs no compiler at install time, only the shared library
that ``cargo build`` makes. Where it looks, in order:

1. ``$WERF_SYNC_LIB`` — the path of the library file. When set, nothing else is tried, so a
   typo fails loudly instead of silently picking up some other build.
2. Next to this package (``werf_sync/libwerf_sync.so``), for a wheel that bundles it.
3. The repository's ``target/debug`` then ``target/release`` (for a checkout where the
   package is used in place from ``bindings/python``).
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path

ENV_VAR = "WERF_SYNC_LIB"


def library_file_name() -> str:
    """The platform's file name of the shared library."""
    if sys.platform == "darwin":
        return "libwerf_sync.dylib"
    return "libwerf_sync.so"


def candidate_paths() -> list[Path]:
    """Where the library is looked for when ``$WERF_SYNC_LIB`` is not set, in order."""
    name = library_file_name()
    package_dir = Path(__file__).resolve().parent
    repo_root = package_dir.parent.parent.parent  # bindings/python/werf_sync -> repo
    return [
        package_dir / name,
        repo_root / "target" / "debug" / name,
        repo_root / "target" / "release" / name,
    ]


class LibraryNotFound(OSError):
    """The shared library could not be found or loaded; the message says where it looked."""


def find_library() -> Path:
    """The path of the shared library to load; raises :class:`LibraryNotFound`."""
    explicit = os.environ.get(ENV_VAR)
    if explicit is not None:
        path = Path(explicit)
        if not path.is_file():
            raise LibraryNotFound(f"${ENV_VAR} is set to {explicit!r}, which is not a file")
        return path
    candidates = candidate_paths()
    for path in candidates:
        if path.is_file():
            return path
    looked = ", ".join(str(p) for p in candidates)
    raise LibraryNotFound(
        f"cannot find the werf-sync shared library {library_file_name()}: "
        f"${ENV_VAR} is not set and it is not at any of: {looked}. "
        f"Build it with `cargo build` in the werf-sync repository, "
        f"or set {ENV_VAR} to its path."
    )


def load_library() -> tuple[ctypes.CDLL, Path]:
    """Loads the shared library. ``CDLL`` (not ``PyDLL``) releases the GIL during every call,
    so a thread blocked waiting for a lock does not stop the others (which may cancel it)."""
    path = find_library()
    try:
        return ctypes.CDLL(str(path)), path
    except OSError as err:
        raise LibraryNotFound(f"cannot load the werf-sync shared library {path}: {err}") from err
