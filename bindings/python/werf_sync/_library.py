"""Finding and loading the werf-sync shared library (``libwerf_sync.so``).

The wheel carries the library inside the package (``werf_sync/libwerf_sync.so``, built from
the repository's C ABI crate by ``setup.py`` when the package is built or installed). Where
it is looked for, in order:

1. ``$WERF_SYNC_LIB`` — the path of a library file, to use another build (a debug build, the
   C library installed system-wide). When set, nothing else is tried, so a typo fails
   loudly instead of silently loading the bundled library.
2. Inside this package, where the wheel put it.

Never in a repository's ``target/`` directory: a package that works only next to a cargo
build is not installed (ffi-conventions.md, rule 10).
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path

ENV_VAR = "WERF_SYNC_LIB"


def library_file_name() -> str:
    """The platform's file name of the bundled library (as ``setup.py`` names it)."""
    if sys.platform == "darwin":
        return "libwerf_sync.dylib"
    return "libwerf_sync.so"


def bundled_path() -> Path:
    """Where the wheel puts the library: inside this package."""
    return Path(__file__).resolve().parent / library_file_name()


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
    path = bundled_path()
    if path.is_file():
        return path
    raise LibraryNotFound(
        f"the werf-sync shared library is not at {path} and ${ENV_VAR} is not set. "
        f"Install the package with pip (`pip install ./bindings/python` in the werf-sync "
        f"repository builds the library with cargo and puts it there), "
        f"or set {ENV_VAR} to the path of a libwerf_sync build."
    )


def load_library() -> tuple[ctypes.CDLL, Path]:
    """Loads the shared library. ``CDLL`` (not ``PyDLL``) releases the GIL during every call,
    so a thread blocked waiting for a lock does not stop the others (which may cancel it)."""
    path = find_library()
    try:
        return ctypes.CDLL(str(path)), path
    except OSError as err:
        raise LibraryNotFound(f"cannot load the werf-sync shared library {path}: {err}") from err
