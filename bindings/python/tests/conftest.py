"""Shared fixtures: a fresh werf home per test, an open Sync, and what subprocesses need to
use the same library (Python workers) or the Rust CLI."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Dict, Iterator

import pytest

PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # bindings/python
REPO_ROOT = PACKAGE_ROOT.parent.parent
sys.path.insert(0, str(PACKAGE_ROOT))

import werf_sync  # noqa: E402
from werf_sync._abi import lib  # noqa: E402


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty werf home."""
    path = tmp_path / "werf-home"
    path.mkdir()
    return path


@pytest.fixture
def sync(home: Path) -> Iterator[werf_sync.Sync]:
    """A Sync over ``home``, closed after the test."""
    with werf_sync.open(home) as opened:
        yield opened


@pytest.fixture
def child_env() -> Dict[str, str]:
    """The environment for a Python child process that must load the same library."""
    env = dict(os.environ)
    env["WERF_SYNC_LIB"] = str(lib().path)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PACKAGE_ROOT), env.get("PYTHONPATH")]))
    return env


@pytest.fixture
def cli() -> Path:
    """The Rust CLI built next to the library (``cargo build`` makes both)."""
    path = lib().path.parent / "werf-sync"
    if not path.is_file():
        pytest.fail(f"the werf-sync CLI is not at {path}; run `cargo build` first")
    return path
