"""Settings: defaults, TOML, environment, overrides, and every problem at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.config import Settings, SettingsError


def test_defaults_live_under_var() -> None:
    settings = Settings.load({})
    assert settings.data_dir == Path("var")
    assert settings.database_path == Path("var/bidroom.sqlite3")
    assert settings.node_key_path == Path("var/keys/node.pem")
    assert settings.recordings_dir == Path("var/recordings")
    assert settings.max_ws_message_bytes == 64 * 1024


def test_precedence_is_toml_then_environment_then_overrides(tmp_path: Path) -> None:
    config = tmp_path / "bidroom.toml"
    config.write_text('port = 9000\nhost = "::1"\ndata_dir = "/srv/a"\n', encoding="utf-8")
    settings = Settings.load(
        {"BIDROOM_CONFIG": str(config), "BIDROOM_PORT": "9100", "BIDROOM_DATA_DIR": "/srv/b"},
        overrides={"data_dir": Path("/srv/c"), "host": None},
    )
    assert (settings.port, settings.host, settings.data_dir) == (9100, "::1", Path("/srv/c"))


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("prot = 1\nws_heartbeat_seconds = true\n", encoding="utf-8")
    with pytest.raises(SettingsError) as caught:
        Settings.load(
            {
                "BIDROOM_PORT": "eighty",
                "BIDROOM_TOKEN_TTL_SECONDS": "0",
                "BIDROOM_LOG_LEVEL": "loud",
                "BIDROOM_TLS_CERT": str(tmp_path / "missing.pem"),
                "BIDROOM_UNKNOWN": "1",
                "HOME": "/root",
            },
            config_file=config,
        )
    text = "\n".join(caught.value.problems)
    for expected in (
        "unknown setting 'prot'",
        "ws_heartbeat_seconds: must be a number",
        "port: must be an integer, not 'eighty'",
        "token_ttl_seconds must be positive",
        "log_level must be one of",
        "tls_cert and tls_key go together",
        "tls_cert: no file at",
        "BIDROOM_UNKNOWN: unknown setting",
    ):
        assert expected in text
    assert len(caught.value.problems) == 8


def test_unreadable_or_broken_toml_is_reported(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="config file"):
        Settings.load({}, config_file=tmp_path / "absent.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("port = = 1", encoding="utf-8")
    with pytest.raises(SettingsError, match="config file"):
        Settings.load({}, config_file=broken)


def test_port_range_and_negative_skew() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.load({"BIDROOM_PORT": "70000", "BIDROOM_MAX_CLOCK_SKEW_SECONDS": "-1"})
    assert len(caught.value.problems) == 2


def test_passphrase_never_shows_in_repr() -> None:
    settings = Settings.load({"BIDROOM_NODE_KEY_PASSPHRASE": "hunter2"})
    assert settings.node_key_passphrase == "hunter2"
    assert "hunter2" not in repr(settings)


def test_the_passphrase_can_come_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "passphrase"
    secret.write_text("correct horse\n", encoding="utf-8")
    settings = Settings.load({"BIDROOM_NODE_KEY_PASSPHRASE_FILE": str(secret)})
    assert settings.node_key_passphrase == "correct horse"
    assert "correct horse" not in repr(settings)


def test_a_bad_passphrase_file_is_reported(tmp_path: Path) -> None:
    empty, binary = tmp_path / "empty", tmp_path / "binary"
    empty.write_text("\n", encoding="utf-8")
    binary.write_bytes(b"\xff\xfe")
    expected = {
        str(tmp_path / "missing"): "can't read",
        str(empty): "is empty",
        str(binary): "not UTF-8",
    }
    for path, problem in expected.items():
        with pytest.raises(SettingsError, match=problem):
            Settings.load({"BIDROOM_NODE_KEY_PASSPHRASE_FILE": path})
    with pytest.raises(SettingsError, match="set one, not both"):
        Settings.load(
            {"BIDROOM_NODE_KEY_PASSPHRASE_FILE": str(empty), "BIDROOM_NODE_KEY_PASSPHRASE": "x"}
        )


def test_login_limits_come_from_the_environment_and_must_be_positive() -> None:
    settings = Settings.load(
        {"BIDROOM_MAX_ANSWERED_CHALLENGES": "500", "BIDROOM_MAX_TRACKED_CALLERS": "2000"}
    )
    assert (settings.max_answered_challenges, settings.max_tracked_callers) == (500, 2000)
    with pytest.raises(SettingsError) as caught:
        Settings.load({"BIDROOM_MAX_ANSWERED_CHALLENGES": "0", "BIDROOM_MAX_TRACKED_CALLERS": "-1"})
    assert caught.value.problems == (
        "max_answered_challenges must be positive",
        "max_tracked_callers must be positive",
    )


def test_connection_limits_come_from_the_environment() -> None:
    settings = Settings.load(
        {
            "BIDROOM_WS_MAX_CONNECTIONS": "100",
            "BIDROOM_WS_MAX_CONNECTIONS_PER_ADDRESS": "4",
            "BIDROOM_HTTP_IDLE_TIMEOUT_SECONDS": "5",
            "BIDROOM_HTTP_BODY_TIMEOUT_SECONDS": "2.5",
        }
    )
    assert (settings.ws_max_connections, settings.ws_max_connections_per_address) == (100, 4)
    assert (settings.http_idle_timeout_seconds, settings.http_body_timeout_seconds) == (5, 2.5)


def test_connection_limits_must_make_sense() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.load(
            {
                "BIDROOM_WS_MAX_CONNECTIONS": "10",
                "BIDROOM_WS_MAX_CONNECTIONS_PER_ADDRESS": "11",
                "BIDROOM_HTTP_BODY_TIMEOUT_SECONDS": "0",
            }
        )
    assert caught.value.problems == (
        "http_body_timeout_seconds must be positive",
        "ws_max_connections_per_address must not exceed ws_max_connections",
    )


def test_media_settings_read_ice_servers_and_refuse_what_is_not_one() -> None:
    settings = Settings.load(
        {"BIDROOM_ICE_SERVERS": "stun:stun.example.org:3478, turn:turn.example.org:3478",
         "BIDROOM_RECORDING_RETENTION_DAYS": "30"}
    )  # fmt: skip
    assert settings.ice_servers == ("stun:stun.example.org:3478", "turn:turn.example.org:3478")
    assert settings.recording_retention_days == 30
    assert Settings.load({}).ice_servers == ()  # nothing reaches outside by default
    with pytest.raises(SettingsError, match="ice_servers"):
        Settings.load({"BIDROOM_ICE_SERVERS": "http://example.org"})
    with pytest.raises(SettingsError, match="recording_segment_seconds must be positive"):
        Settings.load({"BIDROOM_RECORDING_SEGMENT_SECONDS": "0"})
