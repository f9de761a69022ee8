"""The node says out loud when its key sits on disk unprotected."""

from __future__ import annotations

from typing import TYPE_CHECKING

from crypto import SigningKey
from server.cli import main
from server.config import Settings
from server.service.key_hygiene import key_warnings
from server.service.node import load_node_key

if TYPE_CHECKING:
    from pathlib import Path

    import pytest


def settings(tmp_path: Path, **values: object) -> Settings:
    return Settings.load({}, overrides={"data_dir": tmp_path, **values})


def test_a_key_about_to_be_created_without_a_passphrase_is_flagged(tmp_path: Path) -> None:
    (warning,) = key_warnings(settings(tmp_path))
    assert "will be created without a passphrase" in warning
    assert key_warnings(settings(tmp_path, node_key_passphrase="s3cret")) == []


def test_a_plain_node_key_is_flagged_and_a_protected_one_is_not(tmp_path: Path) -> None:
    plain = settings(tmp_path)
    load_node_key(plain.node_key_path, None)
    (warning,) = key_warnings(plain)
    assert "stored unencrypted" in warning
    assert "未加密" in warning

    protected = settings(tmp_path / "other", node_key_passphrase="s3cret")
    load_node_key(protected.node_key_path, "s3cret")
    assert key_warnings(protected) == []


def test_key_files_readable_by_others_are_flagged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret = tmp_path / "passphrase"
    secret.write_text("s3cret", encoding="utf-8")
    secret.chmod(0o644)
    shared = settings(tmp_path, node_key_passphrase_file=secret)
    load_node_key(shared.node_key_path, "s3cret")
    assert caplog.records == []
    shared.node_key_path.chmod(0o640)
    (warning,) = key_warnings(shared)
    assert "readable by other users" in warning
    assert str(secret) in warning
    # The node key's own permissions are said wherever it is loaded (serve, admin, audit).
    load_node_key(shared.node_key_path, "s3cret")
    (record,) = caplog.records
    assert record.levelname == "WARNING"
    assert "readable by other users" in record.getMessage()
    assert "-rw-r-----" in record.getMessage()
    assert str(shared.node_key_path) in record.getMessage()


def test_key_protect_encrypts_a_plain_node_key_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = settings(tmp_path)
    key = load_node_key(plain.node_key_path, None)
    monkeypatch.setenv("NODE_PASS", "s3cret")
    assert main(["key", "protect", "--key", str(plain.node_key_path), "--passphrase-env",
                 "NODE_PASS"]) == 0  # fmt: skip
    assert "已用 $NODE_PASS 中的口令加密" in capsys.readouterr().out
    assert plain.node_key_path.stat().st_mode & 0o777 == 0o600
    reloaded = load_node_key(plain.node_key_path, "s3cret")
    assert reloaded.verify_key == key.verify_key
    assert key_warnings(settings(tmp_path, node_key_passphrase="s3cret")) == []
    protect = ["key", "protect", "--key", str(plain.node_key_path), "--passphrase-env", "NODE_PASS"]
    assert main(protect) == 9  # a bad key file: this one needs its old passphrase
    assert "--passphrase-env" in capsys.readouterr().err
    monkeypatch.setenv("NEW_PASS", "n3w")
    assert main(["key", "protect", "--key", str(plain.node_key_path), "--passphrase-env",
                 "NEW_PASS", "--old-passphrase-env", "NODE_PASS"]) == 0  # fmt: skip
    assert load_node_key(plain.node_key_path, "n3w").verify_key == key.verify_key


def test_a_fresh_key_of_a_protected_node_is_encrypted(tmp_path: Path) -> None:
    path = tmp_path / "node.pem"
    load_node_key(path, "s3cret")
    assert path.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert isinstance(SigningKey.from_pem(path.read_bytes(), b"s3cret"), SigningKey)
