"""Shared fixtures: a fresh werf home per test, an open Sync, and what subprocesses need to
use the same library (Python workers) or the Rust CLI.

The suite tests the installed package (``scripts/test-python`` installs it into a fresh
virtualenv with pip): run pytest from outside ``bindings/python``, or the source tree's
``werf_sync`` — which has no library inside — would shadow the installed one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Iterator

import pytest

import werf_sync


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
    """The environment for a Python child process (``sys.executable``, so the same
    installation and library; ``$WERF_SYNC_LIB`` passes through when set)."""
    return dict(os.environ)


@pytest.fixture
def cli() -> Path:
    """The Rust CLI, from ``$WERF_SYNC_CLI`` (``scripts/test-python`` builds it with
    ``cargo build --features cli``)."""
    value = os.environ.get("WERF_SYNC_CLI")
    if not value:
        pytest.fail("set WERF_SYNC_CLI to the werf-sync command (cargo build --features cli)")
    path = Path(value)
    if not path.is_file():
        pytest.fail(f"WERF_SYNC_CLI is {value!r}, which is not a file")
    return path
