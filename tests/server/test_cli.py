"""The bidroom command in-process: keys, offline enrolment, audit verification, errors."""

from __future__ import annotations

import base64
import json
import sqlite3
from typing import TYPE_CHECKING

import pytest

from crypto import VerifyKey
from server.cli import main
from server.cli.common import node_key_from

if TYPE_CHECKING:
    from pathlib import Path

Capture = pytest.CaptureFixture[str]


def run(capsys: Capture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_key_generate_and_show(tmp_path: Path, capsys: Capture) -> None:
    key = tmp_path / "me.pem"
    code, public, _ = run(capsys, "key", "generate", "--no-passphrase", "--out", str(key))
    assert code == 0
    assert public.startswith("ed25519:")
    assert key.stat().st_mode & 0o777 == 0o600
    assert run(capsys, "key", "show", "--key", str(key))[1] == public
    with pytest.raises(SystemExit, match="不会覆盖"):
        main(["key", "generate", "--no-passphrase", "--out", str(key)])


def test_keys_with_a_passphrase(
    tmp_path: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = tmp_path / "me.pem"
    monkeypatch.setenv("KEY_PASS", "s3cret")
    _, public, _ = run(capsys, "key", "generate", "--out", str(key), "--passphrase-env", "KEY_PASS")
    assert b"ENCRYPTED" in key.read_bytes()
    assert (
        run(capsys, "key", "show", "--key", str(key), "--passphrase-env", "KEY_PASS")[1] == public
    )
    monkeypatch.setenv("BIDROOM_LANG", "en")
    code, _, err = run(capsys, "key", "show", "--key", str(key))
    assert (code, err) == (9, f"bidroom: {key} is encrypted: give its passphrase with "
                               "--passphrase-env VARIABLE.\n")  # fmt: skip
    monkeypatch.setenv("KEY_PASS", "")
    with pytest.raises(SystemExit, match="KEY_PASS is empty"):
        main(["key", "show", "--key", str(key), "--passphrase-env", "KEY_PASS"])
    code, _, err = run(capsys, "key", "show", "--key", str(tmp_path / "absent.pem"))
    assert code == 9
    assert err.startswith(f"bidroom: There is no key file at {tmp_path / 'absent.pem'}.")


def enroll(
    capsys: Capture, data: Path, role: str, pubkey: str, *extra: str
) -> tuple[int, str, str]:
    return run(
        capsys, "admin", "enroll", "--data-dir", str(data), "--role", role, "--name", "张三",
        "--pubkey", pubkey, *extra,
    )  # fmt: skip


def test_offline_enrolment_and_listing(tmp_path: Path, capsys: Capture) -> None:
    data = tmp_path / "node"
    key = tmp_path / "expert.pem"
    run(capsys, "key", "generate", "--no-passphrase", "--out", str(key))
    public_pem = tmp_path / "expert.pub.pem"
    from crypto import SigningKey

    public_pem.write_bytes(SigningKey.from_pem(key.read_bytes()).verify_key.to_pem())
    code, out, _ = enroll(capsys, data, "expert", str(public_pem), "--attr", "region=广州")
    assert code == 0
    enrolled = json.loads(out)
    assert (enrolled["role"], enrolled["attributes"]) == ("expert", {"region": "广州"})
    code, out, err = enroll(capsys, data, "bidder", enrolled["public_key"])
    assert code == 1
    assert "DuplicatePublicKey" in err
    code, out, _ = run(capsys, "admin", "list", "--data-dir", str(data))
    assert [p["id"] for p in json.loads(out)] == [enrolled["id"]]


def test_bad_public_keys_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="32 bytes"):
        main(["admin", "enroll", "--data-dir", str(tmp_path), "--role", "host",
              "--name", "x", "--pubkey", "ed25519:AAAA"])  # fmt: skip
    with pytest.raises(SystemExit, match="can't read"):
        main(["admin", "enroll", "--data-dir", str(tmp_path), "--role", "host",
              "--name", "x", "--pubkey", str(tmp_path / "nope.pem")])  # fmt: skip


def test_another_node_is_enrolled_offline_with_the_key_shown_from_its_key_file(
    tmp_path: Path, capsys: Capture
) -> None:
    # The operator of the other node prints its node key's public half; it is enrolled here.
    other = tmp_path / "other" / "keys" / "node.pem"
    other.parent.mkdir(parents=True)
    run(capsys, "key", "generate", "--no-passphrase", "--out", str(other))
    code, shown, _ = run(capsys, "key", "show", "--key", str(other))
    assert code == 0
    public = shown.strip().split()[-1]
    code, out, _ = enroll(capsys, tmp_path / "node", "node", public)
    assert code == 0
    enrolled = json.loads(out)
    fingerprint = VerifyKey.from_text(public).fingerprint()
    assert (enrolled["id"], enrolled["role"]) == ("n-" + fingerprint[:16], "node")


IDENTITY_KEY = "ed25519:AQ" + "A" * 41  # the identity point: a key of small order


def test_weak_public_keys_are_refused_in_text_and_in_key_files(tmp_path: Path) -> None:
    spki = bytes.fromhex("302a300506032b6570032100") + (1).to_bytes(32, "little")
    pem = tmp_path / "weak.pub.pem"
    pem.write_bytes(
        b"-----BEGIN PUBLIC KEY-----\n" + base64.b64encode(spki) + b"\n-----END PUBLIC KEY-----\n"
    )
    for pubkey in (IDENTITY_KEY, str(pem)):
        with pytest.raises(SystemExit, match=r"--pubkey: .*weak key"):
            main(["admin", "enroll", "--data-dir", str(tmp_path), "--role", "bidder",
                  "--name", "x", "--pubkey", pubkey])  # fmt: skip


def test_a_weak_node_key_ends_the_command() -> None:
    with pytest.raises(SystemExit, match=r"node's key is refused: .*weak key"):
        node_key_from(IDENTITY_KEY)


def test_invalid_enrolments_are_reported(tmp_path: Path, capsys: Capture) -> None:
    from crypto import SigningKey

    public = SigningKey.generate().verify_key.to_text()
    code, _, err = enroll(capsys, tmp_path, "expert", public, "--attr", "Bad Key=x")
    assert code == 1
    assert "attributes.Bad Key" in err


def test_audit_verify_names_the_first_bad_event(tmp_path: Path, capsys: Capture) -> None:
    from crypto import SigningKey

    data = tmp_path / "node"
    for _ in range(3):
        enroll(capsys, data, "bidder", SigningKey.generate().verify_key.to_text())
    code, out, _ = run(capsys, "audit", "verify", "--data-dir", str(data))
    assert (code, out.split()[:3]) == (0, ["OK", "system:", "3"])
    database = data / "bidroom.sqlite3"
    conn = sqlite3.connect(database)
    (sealed,) = conn.execute("SELECT body FROM events WHERE seq = 2").fetchone()
    flipped = sealed[:-1] + bytes([sealed[-1] ^ 1])
    conn.execute("UPDATE events SET body = ? WHERE seq = 2", (flipped,))
    conn.commit()
    code, out, _ = run(capsys, "audit", "verify", "--data-dir", str(data), "system")
    assert code == 1
    assert "first bad event is 2" in out
    assert "altered" in out
    conn.execute("DELETE FROM events WHERE seq = 1")
    conn.commit()
    conn.close()
    assert (
        "first bad event is 1: it is missing"
        in run(capsys, "audit", "verify", "--data-dir", str(data))[1]
    )


def test_audit_verify_reports_empty_and_missing_logs(tmp_path: Path, capsys: Capture) -> None:
    with pytest.raises(SystemExit, match="no audit log"):
        main(["audit", "verify", "--data-dir", str(tmp_path / "none")])
    from crypto import SigningKey
    from server.service.node import load_node_key
    from server.service.node_keys import NodeKeys
    from server.storage.sqlite_schema import initialize

    initialize(tmp_path / "bidroom.sqlite3", NodeKeys(SigningKey.generate()).records)
    with pytest.raises(SystemExit, match="sealed under the node key"):
        main(["audit", "verify", "--data-dir", str(tmp_path), "t-absent"])
    pem = tmp_path / "keys" / "node.pem"
    pem.parent.mkdir()
    pem.write_bytes(SigningKey.generate().to_pem(passphrase=b"secret"))
    with pytest.raises(SystemExit, match="node key can't be loaded"):
        main(["audit", "verify", "--data-dir", str(tmp_path), "t-absent"])
    pem.unlink()
    load_node_key(pem, None)
    code, out, _ = run(capsys, "audit", "verify", "--data-dir", str(tmp_path), "t-absent")
    assert (code, out.split()[0]) == (1, "EMPTY")


def test_bad_settings_exit_2_listing_every_problem(
    tmp_path: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BIDROOM_PORT", "eighty")
    monkeypatch.setenv("BIDROOM_LOG_LEVEL", "loud")
    code, _, err = run(capsys, "audit", "verify", "--data-dir", str(tmp_path))
    assert code == 2
    assert "port: must be an integer" in err
    assert "log_level must be one of" in err


def test_demo_refuses_a_used_directory(tmp_path: Path) -> None:
    (tmp_path / "something").write_text("x", encoding="utf-8")
    with pytest.raises(SystemExit, match="not empty"):
        main(["demo", "--data-dir", str(tmp_path)])
