"""Builds the werf-sync shared library from the C ABI crate and puts it in the wheel.

setuptools-rust with ``Binding.NoBinding`` builds a plain ``cdylib`` (no pyo3) with cargo and
copies it into the package; ctypes loads it from there (``werf_sync/_library.py``). Three
things differ from an ordinary Rust extension module, and this file does each:

- The file is named like a shared library (``werf_sync/libwerf_sync.so``), not like a CPython
  extension (``…cpython-311-x86_64-linux-gnu.so``): Python never imports it, ctypes opens it.
- The wheel is tagged ``py3-none-<platform>``: the library uses no Python API, so one wheel
  serves every Python 3 on the platform, but only that platform.
- The Rust crates live outside this directory (``../c`` and the repository root). The sdist
  carries a copy of them under ``rust/``, laid out as in the repository, and a build from the
  sdist uses that copy.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import List

from setuptools import setup
from setuptools.command.build import build
from setuptools.command.build_ext import build_ext
from setuptools.command.sdist import sdist
from setuptools_rust import Binding, RustExtension, Strip

try:
    from setuptools.command.bdist_wheel import bdist_wheel  # setuptools >= 70.1
except ImportError:  # pragma: no cover - older setuptools with the wheel package
    from wheel.bdist_wheel import bdist_wheel  # type: ignore[no-redef]

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
#: Where an sdist keeps its copy of the Rust workspace.
BUNDLED = "rust"
#: What of the repository the sdist needs to build the library: the workspace manifest and
#: lock file, both crates, and every file either manifest names (cargo refuses a manifest
#: whose declared tests or benches are missing; lib.rs includes README.md in a doctest).
RUST_SOURCES = ["Cargo.toml", "Cargo.lock", "README.md", "src", "tests", "benches", "bindings/c"]
#: Not needed to build, and large or foreign: Go benchmark peers, build output.
RUST_IGNORE = shutil.ignore_patterns("target", "go-peers", "__pycache__", "*.pyc")

MODULE = "werf_sync.libwerf_sync"  # the library as the package's data: werf_sync/libwerf_sync.so


def c_crate_manifest() -> str:
    """The C ABI crate's manifest: the sdist's copy when building from an sdist, else the
    repository's. Relative to this directory, as setuptools-rust wants."""
    bundled = Path(BUNDLED, "bindings", "c", "Cargo.toml")
    if (HERE / bundled).is_file():
        return str(bundled)
    return os.path.relpath(REPO_ROOT / "bindings" / "c" / "Cargo.toml", HERE)


def shared_library_suffix() -> str:
    if sys.platform == "darwin":
        return ".dylib"
    if sys.platform == "win32":
        return ".dll"
    return ".so"


class Build(build):
    """Starts from an empty ``build/lib``: pip builds in the source tree, and setuptools
    never removes what an earlier build left there, so a file renamed or deleted since (an
    old library name, a removed module) would ship in the wheel again."""

    def run(self) -> None:
        shutil.rmtree(self.build_lib, ignore_errors=True)
        super().run()


class BuildExt(build_ext):
    """Names the library ``libwerf_sync.so`` (``.dylib`` on macOS): a C library for ctypes,
    not a Python extension module, so it gets no interpreter-specific suffix."""

    def get_ext_filename(self, fullname: str) -> str:
        # Called with the module's full name or (from get_ext_fullpath) its last part.
        if fullname in (MODULE, MODULE.rsplit(".", 1)[-1]):
            return os.path.join(*fullname.split(".")) + shared_library_suffix()
        return str(super().get_ext_filename(fullname))


class BdistWheel(bdist_wheel):
    """Tags the wheel ``py3-none-<platform>``: it contains native code for one platform (so
    never ``any``) that works with every Python 3 (so not ``cp311-cp311``)."""

    def get_tag(self) -> "tuple[str, str, str]":
        _, _, platform = super().get_tag()
        return "py3", "none", platform


class Sdist(sdist):
    """Adds a copy of the Rust workspace under ``rust/``, so the sdist builds on its own."""

    def make_release_tree(self, base_dir: str, files: List[str]) -> None:
        super().make_release_tree(base_dir, files)
        if (HERE / BUNDLED).is_dir():  # an sdist of an unpacked sdist: MANIFEST.in took rust/
            return
        for entry in RUST_SOURCES:
            src, dst = REPO_ROOT / entry, Path(base_dir, BUNDLED, entry)
            if src.is_dir():
                shutil.copytree(src, dst, ignore=RUST_IGNORE)
            else:
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst)


setup(
    rust_extensions=[
        RustExtension(
            MODULE,
            path=c_crate_manifest(),
            binding=Binding.NoBinding,
            # The workspace's Cargo.lock pins what was tested; refuse to build anything else.
            cargo_manifest_args=["--locked"],
            # The release profile already drops debug info; drop the symbol table too.
            strip=Strip.All,
        )
    ],
    cmdclass={"build": Build, "build_ext": BuildExt, "bdist_wheel": BdistWheel, "sdist": Sdist},
    zip_safe=False,
)
