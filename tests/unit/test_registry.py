"""The pure pieces of localenv/registry.py: containerd's files, the registry config, the
skopeo authfile. No process is started."""

from __future__ import annotations

import base64
import json
import tomllib
from pathlib import Path

import pytest
import yaml

from localenv import registry
from localenv.layout import Layout

PORT = 45123


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    layout = Layout(tmp_path / ".localenv")
    layout.prepare()
    layout.save_state({"ports": {"registry": PORT}})
    return layout


def test_containerd_section_carries_the_credentials_for_the_mirror_host(layout: Layout) -> None:
    document = tomllib.loads(registry.containerd_registry_toml(layout))
    section = document["plugins"]["io.containerd.grpc.v1.cri"]["registry"]
    assert section["config_path"] == str(layout.home / "node" / "containerd" / "certs.d")
    # containerd 1.6 looks the credentials up by the host it contacts (the mirror), not by
    # the image's registry name.
    assert section["configs"] == {
        f"127.0.0.1:{PORT}": {"auth": {"username": "paif", "password": registry.password(layout)}}
    }
    assert "mirrors" not in section  # not allowed together with config_path


def test_containerd_section_needs_a_registry_port(tmp_path: Path) -> None:
    layout = Layout(tmp_path / ".localenv")
    layout.prepare()
    with pytest.raises(registry.RegistryError, match="no registry port"):
        registry.containerd_registry_toml(layout)


def test_hosts_toml_sends_every_request_to_the_loopback_registry(layout: Layout) -> None:
    path = registry.write_containerd_hosts(layout)
    assert path == layout.home / "node" / "containerd" / "certs.d" / "registry.local.paif.test" / "hosts.toml"
    document = tomllib.loads(path.read_text())
    mirror = f"https://127.0.0.1:{PORT}"
    ca = str(layout.pki_dir / "ca.crt")
    # No fallback to resolving registry.local.paif.test through the machine's resolver.
    assert document["server"] == mirror
    assert document["ca"] == ca
    assert document["host"] == {mirror: {"capabilities": ["pull", "resolve"], "ca": ca}}
    assert registry.password(layout) not in path.read_text()


def test_registry_config_is_loopback_tls_and_htpasswd(layout: Layout) -> None:
    config = yaml.safe_load(registry.config_yaml(layout, PORT))
    files = registry.paths(layout)
    assert config["http"]["addr"] == f"127.0.0.1:{PORT}"
    assert config["http"]["tls"] == {
        "certificate": str(files.cert),
        "key": str(files.key),
        "minimumtls": "tls1.2",
    }
    assert config["auth"] == {"htpasswd": {"realm": "paif-local-registry", "path": str(files.htpasswd)}}
    assert config["storage"]["filesystem"]["rootdirectory"] == str(layout.home / "registry" / "data")
    assert registry.password(layout) not in registry.config_yaml(layout, PORT)


def test_authfile_names_only_the_loopback_host() -> None:
    document = json.loads(registry.auth_file_content(PORT, "paif", "pw:with-colon"))
    assert list(document["auths"]) == [f"127.0.0.1:{PORT}"]
    assert base64.b64decode(document["auths"][f"127.0.0.1:{PORT}"]["auth"]) == b"paif:pw:with-colon"


def test_references_are_by_digest_under_the_registry_name() -> None:
    assert registry.image_ref("chat-backend", "sha256:" + "a" * 64) == (
        "registry.local.paif.test/paif/chat-backend@sha256:" + "a" * 64
    )


def test_app_images_missing_from_the_build_manifest_is_an_error(layout: Layout, tmp_path: Path) -> None:
    with pytest.raises(registry.RegistryError, match="run make setup"):
        registry.load_images(tmp_path / "nope.json")
