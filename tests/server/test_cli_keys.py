"""Private keys on disk: encrypted unless said otherwise out loud, 0600, refused when shared."""

from __future__ import annotations

import getpass
import io
import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from crypto import EncryptionKey, SigningKey
from server.cli import main
from server.cli.failures import EXIT_KEY_FILE

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

Capture = pytest.CaptureFixture[str]
ENCRYPTED = b"-----BEGIN ENCRYPTED PRIVATE KEY-----"
PLAIN = b"-----BEGIN PRIVATE KEY-----"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def no_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO())


def typed(monkeypatch: pytest.MonkeyPatch, *answers: str) -> list[str]:
    """Make stdin a terminal on which the person types `answers`; returns the prompts shown."""
    prompts: list[str] = []
    replies = iter(answers)

    def ask(prompt: str = "") -> str:
        prompts.append(prompt)
        return next(replies)

    monkeypatch.setattr(sys, "stdin", Terminal())
    monkeypatch.setattr(getpass, "getpass", ask)
    return prompts


@pytest.fixture
def open_umask() -> Iterator[None]:
    """Nothing masked: a file made without an explicit mode would be 0666 (or 0644 after a chmod
    that comes too late)."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


@pytest.mark.usefixtures("no_terminal")
def test_with_no_passphrase_source_generate_refuses_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = tmp_path / "me.pem"
    with pytest.raises(SystemExit) as refused:
        main(["key", "generate", "--out", str(key)])
    message = str(refused.value.code)
    assert "\n" not in message
    assert "--passphrase-env" in message
    assert "--no-passphrase" in message
    assert "口令" in message
    assert not key.exists()
    monkeypatch.setenv("BIDROOM_LANG", "en")
    with pytest.raises(SystemExit, match="needs a passphrase"):
        main(["key", "generate", "--kind", "encryption", "--out", str(key)])
    assert not key.exists()


@pytest.mark.usefixtures("open_umask")
def test_a_key_from_the_environment_is_encrypted_and_0600(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    monkeypatch.setenv("KEY_PASS", "s3cret")
    identity, encryption = tmp_path / "me.pem", tmp_path / "me.x25519.pem"
    assert main(["key", "generate", "--out", str(identity), "--passphrase-env", "KEY_PASS"]) == 0
    public = capsys.readouterr().out.strip()
    assert main(["key", "generate", "--kind", "encryption", "--out", str(encryption),
                 "--passphrase-env", "KEY_PASS"]) == 0  # fmt: skip
    for path in (identity, encryption):
        assert path.read_bytes().startswith(ENCRYPTED)
        assert mode(path) == 0o600
    assert SigningKey.from_pem(identity.read_bytes(), b"s3cret").verify_key.to_text() == public
    assert isinstance(EncryptionKey.from_pem(encryption.read_bytes(), b"s3cret"), EncryptionKey)


def test_on_a_terminal_the_passphrase_is_asked_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    key = tmp_path / "me.pem"
    prompts = typed(monkeypatch, "correct horse", "correct horse")
    assert main(["key", "generate", "--out", str(key)]) == 0
    assert prompts == ["新密钥的口令：", "再输入一次口令："]
    public = capsys.readouterr().out.strip()
    assert key.read_bytes().startswith(ENCRYPTED)
    assert SigningKey.from_pem(key.read_bytes(), b"correct horse").verify_key.to_text() == public

    other = tmp_path / "other.pem"
    typed(monkeypatch, "correct horse", "correct hose")
    with pytest.raises(SystemExit, match="不一致"):
        main(["key", "generate", "--out", str(other)])
    typed(monkeypatch, "")
    with pytest.raises(SystemExit, match="--no-passphrase"):
        main(["key", "generate", "--out", str(other)])
    monkeypatch.setenv("BIDROOM_LANG", "en")
    prompts = typed(monkeypatch, "a", "b")
    with pytest.raises(SystemExit, match="differ; no key written"):
        main(["key", "generate", "--out", str(other)])
    assert prompts == ["Passphrase for the new key: ", "The passphrase again: "]
    assert not other.exists()
    # An existing file is refused before the passphrase is asked for.
    prompts = typed(monkeypatch)
    with pytest.raises(SystemExit, match="exists; refusing to overwrite"):
        main(["key", "generate", "--out", str(key)])
    assert prompts == []


@pytest.mark.usefixtures("no_terminal", "open_umask")
def test_no_passphrase_writes_a_plain_key_and_says_so_in_both_languages(
    tmp_path: Path, capsys: Capture
) -> None:
    key = tmp_path / "test.pem"
    assert main(["key", "generate", "--no-passphrase", "--out", str(key)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("ed25519:")
    assert key.read_bytes().startswith(PLAIN)
    assert mode(key) == 0o600
    chinese, english = err.splitlines()
    assert chinese.startswith("bidroom: !!!")
    assert "未加密" in chinese
    assert "测试机" in chinese
    assert english.startswith("bidroom: !!!")
    assert "NOT protected" in english
    assert "test machine" in english
    assert str(key) in chinese
    assert str(key) in english
    with pytest.raises(SystemExit) as usage:
        main(["key", "generate", "--no-passphrase", "--passphrase-env", "X", "--out", "x.pem"])
    assert usage.value.code == 2


def test_a_key_file_others_may_read_is_refused_on_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    key = tmp_path / "shared.pem"
    key.write_bytes(SigningKey.generate().to_pem())
    key.chmod(0o644)
    assert main(["key", "show", "--key", str(key)]) == EXIT_KEY_FILE
    message = capsys.readouterr().err
    assert message.count("\n") == 1  # one line
    assert message.startswith("bidroom: 密钥文件")
    assert "-rw-r--r--" in message
    assert f"chmod 600 {key}" in message
    # The encryption key of the remote commands goes through the same check.
    encryption = tmp_path / "shared.x25519.pem"
    encryption.write_bytes(EncryptionKey.generate().to_pem())
    encryption.chmod(0o604)
    monkeypatch.setenv("BIDROOM_LANG", "en")
    decrypt = ["bidder", "decrypt", "--node", "http://127.0.0.1:9", "--participant", "p-x",
               "--key", str(key), "--tender", "t-x", "--lot", "L1",
               "--encryption-key", str(encryption), str(tmp_path / "sealed.bin")]  # fmt: skip
    assert main(decrypt) == EXIT_KEY_FILE
    assert "open to other users (mode -rw----r--); refusing" in capsys.readouterr().err
    key.chmod(0o600)
    assert main(["key", "show", "--key", str(key)]) == 0
    assert capsys.readouterr().out.startswith("ed25519:")


def test_the_command_refuses_without_a_terminal_in_one_line(tmp_path: Path) -> None:
    def bidroom(*argv: str) -> subprocess.CompletedProcess[str]:
        environment = {k: v for k, v in os.environ.items() if k != "BIDROOM_LANG"}
        return subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
            [sys.executable, "-m", "server", *argv], stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=30, check=False, env=environment,
        )  # fmt: skip

    refused = bidroom("key", "generate", "--out", str(tmp_path / "a.pem"))
    assert refused.returncode == 1
    assert refused.stdout == ""
    (line,) = refused.stderr.splitlines()
    assert "--no-passphrase" in line
    assert not (tmp_path / "a.pem").exists()
