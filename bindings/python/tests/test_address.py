"""werf's --synchronization addresses, parsed by the library, and opening from one."""

from __future__ import annotations

from pathlib import Path

import pytest

import werf_sync
from werf_sync import AddressMode


def test_local() -> None:
    address = werf_sync.parse_address(":local")
    assert address.mode is AddressMode.LOCAL and address.text == ":local" and str(address) == ":local"
    assert address.kubernetes_namespace is None and address.http_url is None


def test_kubernetes_with_context_and_config_path() -> None:
    address = werf_sync.parse_address("kubernetes://ns:ctx@/tmp/kubeconfig")
    assert address.mode is AddressMode.KUBERNETES
    assert (address.kubernetes_namespace, address.kubernetes_context, address.kubeconfig_path) == (
        "ns",
        "ctx",
        "/tmp/kubeconfig",
    )
    assert address.kubeconfig_data is None


def test_kubernetes_inline_config_is_redacted() -> None:
    address = werf_sync.parse_address("kubernetes://ns@base64:c2VjcmV0")
    assert address.kubeconfig_data == b"secret"
    assert address.kubernetes_context is None
    assert "c2VjcmV0" not in repr(address) and "c2VjcmV0" not in str(address)
    assert address.text == "kubernetes://ns@base64:c2VjcmV0"


def test_http_credentials_are_redacted() -> None:
    address = werf_sync.parse_address("https://user:pw@sync.example/x")
    assert address.mode is AddressMode.HTTP
    assert address.http_url is not None and "sync.example" in address.http_url
    assert "pw" not in repr(address) and "pw" not in str(address)


@pytest.mark.parametrize("text", ["", "local", "kubernetes://", "ftp://x"])
def test_invalid_addresses_raise_with_werfs_message(text: str) -> None:
    with pytest.raises(werf_sync.InvalidArgument, match="synchronization"):
        werf_sync.parse_address(text)


def test_open_from_address(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with werf_sync.open(home, address=":local") as sync:
        sync.lock("x", timeout=1).release()
    with pytest.raises(werf_sync.Unsupported, match="kubernetes"):
        werf_sync.open(home, address="kubernetes://ns")
    with pytest.raises(werf_sync.InvalidArgument):
        werf_sync.open(home, address="bogus")
    monkeypatch.setenv("WERF_SYNCHRONIZATION", "kubernetes://from-env")
    with pytest.raises(werf_sync.Unsupported, match="from-env"):
        werf_sync.open(home, address="")  # "" means $WERF_SYNCHRONIZATION, as in werf
    werf_sync.open(home).close()  # no address: :local, the environment is not consulted
