"""Node settings: defaults with reasons, overridden by a TOML file, the environment, the CLI."""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

ENV_PREFIX: Final = "BIDROOM_"
CONFIG_ENV: Final = "BIDROOM_CONFIG"
# The command line's own variables (server/cli: the language, the profile and its node, progress
# bars): not node settings, so a node or an offline command started with them set is not refused.
CLIENT_ENV: Final = frozenset(
    {"BIDROOM_LANG", "BIDROOM_PROFILE", "BIDROOM_NODE", "BIDROOM_PROGRESS"}
)
SITE_NAME: Final = re.compile(r"[A-Za-z0-9_-]{1,32}")
REDIS_SCHEMES: Final = ("redis://", "rediss://", "unix://")
PG_SCHEMES: Final = ("postgresql://", "postgres://")

# Control messages only: bid files go through the upload API, media through WebRTC.
MAX_WS_MESSAGE_BYTES: Final = 64 * 1024
# JSON commands are small; uploads use their own streaming route with its own limit.
MAX_HTTP_BODY_BYTES: Final = 1024 * 1024
# Browsers and proxies drop idle connections after about a minute; ping well before that.
WS_HEARTBEAT_SECONDS: Final = 20.0
# A client that does not authenticate quickly is not a client.
WS_AUTH_TIMEOUT_SECONDS: Final = 10.0
# A client whose unsent backlog stays above WS_BACKLOG_BYTES for WS_BACKLOG_SECONDS is slow
# and is dropped (it then reconnects and resumes by sequence number). A burst that a healthy
# client drains in time is fine: one group commit can write a megabyte to everyone at once.
WS_BACKLOG_BYTES: Final = 256 * 1024
WS_BACKLOG_SECONDS: Final = 5.0
# Past this a client is dropped at once: the hard bound on memory held per client.
WS_SEND_BUFFER_BYTES: Final = 4 * 1024 * 1024
WS_MAX_SUBSCRIPTIONS: Final = 16
# How long a dropped client gets to read its close frame before the socket is cut.
WS_CLOSE_TIMEOUT_SECONDS: Final = 5.0
# Live connections, authenticated or not. A connection costs about 16 KiB, or 55 KiB over
# TLS (bench/connections.py), so the total bounds the node's memory at about 270 MiB; it is
# the size the fan-out benchmark runs at. Per address, a few tabs and devices for each person
# behind one office NAT; a node behind a reverse proxy sees one address and must raise it.
WS_MAX_CONNECTIONS: Final = 5000
WS_MAX_CONNECTIONS_PER_ADDRESS: Final = 64
# An HTTP connection with no request in flight is closed after this long; it also bounds the
# time a client may take to send a request's headers (aiohttp's keep-alive timeout).
HTTP_IDLE_TIMEOUT_SECONDS: Final = 30.0
# A JSON body (1 MiB at most) that has not arrived in this time is never coming: 408.
# Uploads get the same time for each piece, so a slow but moving upload is not cut.
HTTP_BODY_TIMEOUT_SECONDS: Final = 30.0
# Short-lived: a stolen token is useful for minutes, and roles can be withdrawn quickly.
TOKEN_TTL_SECONDS: Final = 15 * 60
CHALLENGE_TTL_SECONDS: Final = 60
# Signed logins carry the client's clock; a larger skew hints at replay or a broken clock.
MAX_CLOCK_SKEW_SECONDS: Final = 30
# Challenges are stateless (MACed by the node); an address may hold this many unanswered ones
# per challenge TTL, and past that is refused (429) while no one else's challenge is touched.
MAX_CHALLENGES_PER_ADDRESS: Final = 16
# Answered challenges are remembered until they expire, so none is used twice. Only a valid
# signature by an enrolled key adds one, so a flood can't fill it; if it ever fills, logins
# are refused (503) rather than a remembered challenge forgotten. Far above any real login rate.
MAX_ANSWERED_CHALLENGES: Final = 100_000
# Addresses and claimed ids whose counters (challenges, failed logins, refusals) are kept;
# past it the least recently seen is forgotten, which only loosens a limit, never locks out.
MAX_TRACKED_CALLERS: Final = 10_000
# Refusals and failed logins are recorded; past this many per participant (and, for logins,
# per address) per minute they are not (429).
MAX_REFUSALS_PER_MINUTE: Final = 60
# Failed logins from everyone together: a flood spread over many addresses and ids, each within
# its own limit, still writes at most this many records a minute (under a million a day).
MAX_FAILED_LOGINS_PER_MINUTE: Final = 600
# A signed tree head at each phase change and at the latest after this many events: what a
# rewrite of the log could hide is bounded by it (docs/spec/audit-bundle.md).
TREE_HEAD_EVERY: Final = 256
LOG_LEVELS: Final = frozenset({"DEBUG", "INFO", "WARNING", "ERROR"})
# Text for a person at a terminal; JSON lines for a log collector (server/logs.py).
LOG_FORMATS: Final = frozenset({"text", "json"})
# What the node runs on, built by server/backends.py: the event store (the audit log), the store
# of sealed bid files, and the bus that carries commits to the live hubs. One node on one machine
# needs nothing else; the choices grow with multi-site deployments.
EVENT_STORES: Final = frozenset({"sqlite", "postgres"})
BLOB_STORES: Final = frozenset({"disk"})
BUSES: Final = frozenset({"local", "redis"})
# Several sites (docs/sites.md). The home lease lives this long unless renewed (a third of it);
# a standby takes over at the earliest this long after the home stopped renewing.
LEASE_TTL_SECONDS: Final = 6.0
# Every Redis call is bounded by this (connect, command, and each blocking read's own block).
REDIS_TIMEOUT_SECONDS: Final = 5.0
# An edge waits this long for the home to answer a forwarded command, then says the home is
# unreachable; the command was then not acknowledged (it may or may not have been committed).
FORWARD_TIMEOUT_SECONDS: Final = 15.0
# Presence keys expire after this long without a refresh (a third of it).
PRESENCE_TTL_SECONDS: Final = 15.0
# Live media (docs/media.md). An offer with every candidate gathered is a few KiB; a live
# channel message is at most 64 KiB, envelope included.
MAX_SDP_BYTES: Final = 32 * 1024
MEDIA_CONNECT_TIMEOUT_SECONDS: Final = 15.0
MEDIA_SESSIONS_PER_CONNECTION: Final = 16
MAX_MEDIA_SESSIONS: Final = 500
# A minute per segment: an evaluation day of twenty workstations is about 20,000 segments.
RECORDING_SEGMENT_SECONDS: Final = 60.0
# Openings and evaluations are kept at least 15 years (GP87 39, GP Law 42).
RECORDING_RETENTION_DAYS: Final = 15 * 365 + 4


class SettingsError(ValueError):
    """One or more settings are invalid; `problems` lists every one of them."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("Invalid settings:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path = Path("var")
    host: str = "127.0.0.1"
    port: int = 8080
    tls_cert: Path | None = None
    tls_key: Path | None = None
    node_key_passphrase: str | None = field(default=None, repr=False)
    # For services: a file holding the passphrase (a systemd credential, a mounted secret),
    # so that it stays out of the environment that other processes of the user may read.
    node_key_passphrase_file: Path | None = None
    max_http_body_bytes: int = MAX_HTTP_BODY_BYTES
    max_ws_message_bytes: int = MAX_WS_MESSAGE_BYTES
    ws_heartbeat_seconds: float = WS_HEARTBEAT_SECONDS
    ws_auth_timeout_seconds: float = WS_AUTH_TIMEOUT_SECONDS
    ws_backlog_bytes: int = WS_BACKLOG_BYTES
    ws_backlog_seconds: float = WS_BACKLOG_SECONDS
    ws_send_buffer_bytes: int = WS_SEND_BUFFER_BYTES
    ws_max_subscriptions: int = WS_MAX_SUBSCRIPTIONS
    ws_close_timeout_seconds: float = WS_CLOSE_TIMEOUT_SECONDS
    ws_max_connections: int = WS_MAX_CONNECTIONS
    ws_max_connections_per_address: int = WS_MAX_CONNECTIONS_PER_ADDRESS
    http_idle_timeout_seconds: float = HTTP_IDLE_TIMEOUT_SECONDS
    http_body_timeout_seconds: float = HTTP_BODY_TIMEOUT_SECONDS
    token_ttl_seconds: int = TOKEN_TTL_SECONDS
    challenge_ttl_seconds: int = CHALLENGE_TTL_SECONDS
    max_clock_skew_seconds: int = MAX_CLOCK_SKEW_SECONDS
    max_challenges_per_address: int = MAX_CHALLENGES_PER_ADDRESS
    max_answered_challenges: int = MAX_ANSWERED_CHALLENGES
    max_tracked_callers: int = MAX_TRACKED_CALLERS
    max_refusals_per_minute: int = MAX_REFUSALS_PER_MINUTE
    max_failed_logins_per_minute: int = MAX_FAILED_LOGINS_PER_MINUTE
    tree_head_every: int = TREE_HEAD_EVERY
    log_level: str = "INFO"
    event_store: str = "sqlite"
    blob_store: str = "disk"
    bus: str = "local"
    # Several sites (docs/sites.md): the site this node serves (main venue, secondary venue),
    # the Redis that joins the sites, and whether this node may hold the home lease.
    site: str = "main"
    redis_url: str | None = field(default=None, repr=False)  # may hold a password
    database_url: str | None = field(default=None, repr=False)  # PostgreSQL; may hold one too
    home: bool = False
    cluster: str = "bidroom"  # the prefix of every Redis key, so clusters can share a Redis
    public_url: str = ""  # how clients reach this node (edges name the home's for uploads)
    lease_ttl_seconds: float = LEASE_TTL_SECONDS
    redis_timeout_seconds: float = REDIS_TIMEOUT_SECONDS
    forward_timeout_seconds: float = FORWARD_TIMEOUT_SECONDS
    presence_ttl_seconds: float = PRESENCE_TTL_SECONDS
    # Reverse proxies whose Forwarded / X-Forwarded-For headers are believed (addresses or
    # networks, e.g. "10.0.0.0/8"); from anyone else those headers are ignored.
    trusted_proxies: tuple[str, ...] = ()
    # Live media (docs/media.md): STUN/TURN URLs (none: nothing reaches outside), limits,
    # recordings and the voice of the 唱标.
    ice_servers: tuple[str, ...] = ()
    max_sdp_bytes: int = MAX_SDP_BYTES
    media_connect_timeout_seconds: float = MEDIA_CONNECT_TIMEOUT_SECONDS
    media_sessions_per_connection: int = MEDIA_SESSIONS_PER_CONNECTION
    max_media_sessions: int = MAX_MEDIA_SESSIONS
    recording_segment_seconds: float = RECORDING_SEGMENT_SECONDS
    recording_retention_days: int = RECORDING_RETENTION_DAYS
    speech_voice: str = "cmn-latn-pinyin"  # espeak-ng's Mandarin that reads characters
    # The operational face (docs/operations.md): log lines as text or JSON, and /metrics.
    log_format: str = "text"
    metrics_enabled: bool = True

    @property
    def database_path(self) -> Path:
        return self.data_dir / "bidroom.sqlite3"

    @property
    def node_key_path(self) -> Path:
        return self.data_dir / "keys" / "node.pem"

    @property
    def recordings_dir(self) -> Path:
        return self.data_dir / "recordings"

    @classmethod
    def load(
        cls,
        environ: Mapping[str, str],
        *,
        config_file: Path | None = None,
        overrides: Mapping[str, object] | None = None,
    ) -> Settings:
        """Defaults < TOML file < BIDROOM_* environment < overrides; every problem at once."""
        problems: list[str] = []
        values: dict[str, object] = {}
        path = config_file or (Path(environ[CONFIG_ENV]) if environ.get(CONFIG_ENV) else None)
        if path is not None:
            values.update(_from_toml(path, problems))
        values.update(_from_env(environ, problems))
        values.update({k: v for k, v in (overrides or {}).items() if v is not None})
        # A database or a Redis named is the one used, unless a store or bus is chosen too.
        if values.get("database_url") and "event_store" not in values:
            values["event_store"] = "postgres"
        if values.get("redis_url") and "bus" not in values:
            values["bus"] = "redis"
        settings = _with_passphrase_file(_build(values, problems), problems)
        problems.extend(settings._check())
        if problems:
            raise SettingsError(problems)
        return settings

    def _check(self) -> list[str]:
        problems = [
            f"{name} must be positive"
            for name in (
                "max_http_body_bytes", "max_ws_message_bytes", "ws_heartbeat_seconds",
                "ws_auth_timeout_seconds", "ws_send_buffer_bytes", "ws_max_subscriptions",
                "ws_backlog_bytes", "ws_backlog_seconds",
                "ws_close_timeout_seconds", "ws_max_connections",
                "ws_max_connections_per_address", "http_idle_timeout_seconds",
                "http_body_timeout_seconds",
                "token_ttl_seconds", "challenge_ttl_seconds", "max_challenges_per_address",
                "max_answered_challenges", "max_tracked_callers", "max_refusals_per_minute",
                "max_failed_logins_per_minute",
                "tree_head_every", "lease_ttl_seconds", "redis_timeout_seconds",
                "forward_timeout_seconds", "presence_ttl_seconds", "max_sdp_bytes",
                "media_connect_timeout_seconds", "media_sessions_per_connection",
                "max_media_sessions", "recording_segment_seconds", "recording_retention_days",
            )
            if getattr(self, name) <= 0
        ]  # fmt: skip
        if not 0 <= self.port <= 65535:
            problems.append("port must be between 0 and 65535")
        if self.max_clock_skew_seconds < 0:
            problems.append("max_clock_skew_seconds must not be negative")
        if (self.tls_cert is None) != (self.tls_key is None):
            problems.append("tls_cert and tls_key go together: set both or neither")
        for name in ("tls_cert", "tls_key"):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                problems.append(f"{name}: no file at {path}")
        if self.ws_max_connections_per_address > self.ws_max_connections:
            problems.append("ws_max_connections_per_address must not exceed ws_max_connections")
        if self.ws_backlog_bytes > self.ws_send_buffer_bytes:
            problems.append("ws_backlog_bytes must not exceed ws_send_buffer_bytes")
        if self.log_format not in LOG_FORMATS:
            problems.append(f"log_format must be one of {', '.join(sorted(LOG_FORMATS))}")
        if self.log_level not in LOG_LEVELS:
            problems.append(f"log_level must be one of {', '.join(sorted(LOG_LEVELS))}")
        if not SITE_NAME.fullmatch(self.site):
            problems.append("site must be 1-32 letters, digits, '-' or '_'")
        if not SITE_NAME.fullmatch(self.cluster):
            problems.append("cluster must be 1-32 letters, digits, '-' or '_'")
        if self.redis_url is not None and not self.redis_url.startswith(REDIS_SCHEMES):
            problems.append("redis_url must start with redis://, rediss:// or unix://")
        if self.database_url is not None and not self.database_url.startswith(PG_SCHEMES):
            problems.append("database_url must start with postgresql:// or postgres://")
        if self.event_store == "postgres" and self.database_url is None:
            problems.append("event_store postgres needs database_url")
        if self.bus == "redis" and self.redis_url is None:
            problems.append("bus redis needs redis_url")
        if self.home and self.redis_url is None:
            problems.append("home is for a node of several sites: it needs redis_url")
        backends = {"event_store": EVENT_STORES, "blob_store": BLOB_STORES, "bus": BUSES}
        for name, choices in backends.items():
            if getattr(self, name) not in choices:
                problems.append(f"{name} must be one of {', '.join(sorted(choices))}")
        return problems


def _with_passphrase_file(settings: Settings, problems: list[str]) -> Settings:
    """Read the node key's passphrase from its file, if one is named."""
    path = settings.node_key_passphrase_file
    if path is None:
        return settings
    if settings.node_key_passphrase is not None:
        problems.append("node_key_passphrase and node_key_passphrase_file: set one, not both")
        return settings
    try:
        secret = path.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        problems.append(f"node_key_passphrase_file: can't read {path} ({exc.strerror})")
        return settings
    except UnicodeDecodeError:
        problems.append(f"node_key_passphrase_file: {path} is not UTF-8 text")
        return settings
    if not secret:
        problems.append(f"node_key_passphrase_file: {path} is empty")
        return settings
    return dataclasses.replace(settings, node_key_passphrase=secret)


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return value


def _integer(value: object) -> int:
    try:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise TypeError
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"must be an integer, not {value!r}") from None


def _number(value: object) -> float:
    try:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise TypeError
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"must be a number, not {value!r}") from None


def _path(value: object) -> Path:
    return value if isinstance(value, Path) else Path(_text(value))


_PARSERS: Final[Mapping[str, Callable[[object], Any]]] = {
    "data_dir": _path,
    "host": _text,
    "port": _integer,
    "tls_cert": _path,
    "tls_key": _path,
    "node_key_passphrase": _text,
    "node_key_passphrase_file": _path,
    "max_http_body_bytes": _integer,
    "max_ws_message_bytes": _integer,
    "ws_heartbeat_seconds": _number,
    "ws_auth_timeout_seconds": _number,
    "ws_backlog_bytes": _integer,
    "ws_backlog_seconds": _number,
    "ws_send_buffer_bytes": _integer,
    "ws_max_subscriptions": _integer,
    "ws_close_timeout_seconds": _number,
    "ws_max_connections": _integer,
    "ws_max_connections_per_address": _integer,
    "http_idle_timeout_seconds": _number,
    "http_body_timeout_seconds": _number,
    "token_ttl_seconds": _integer,
    "challenge_ttl_seconds": _integer,
    "max_clock_skew_seconds": _integer,
    "max_challenges_per_address": _integer,
    "max_answered_challenges": _integer,
    "max_tracked_callers": _integer,
    "max_failed_logins_per_minute": _integer,
    "max_refusals_per_minute": _integer,
    "tree_head_every": _integer,
    "log_level": lambda value: _text(value).upper(),
    "event_store": _text,
    "blob_store": _text,
    "bus": _text,
    "site": _text,
    "redis_url": _text,
    "database_url": _text,
    "home": lambda value: _flag(value),
    "cluster": _text,
    "public_url": _text,
    "lease_ttl_seconds": _number,
    "redis_timeout_seconds": _number,
    "forward_timeout_seconds": _number,
    "presence_ttl_seconds": _number,
    "trusted_proxies": lambda value: _networks(value),
    "ice_servers": lambda value: _urls(value),
    "max_sdp_bytes": _integer,
    "media_connect_timeout_seconds": _number,
    "media_sessions_per_connection": _integer,
    "max_media_sessions": _integer,
    "recording_segment_seconds": _number,
    "recording_retention_days": _integer,
    "speech_voice": _text,
    "log_format": lambda value: _text(value).lower(),
    "metrics_enabled": lambda value: _flag(value),
}


def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = _text(value).lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected true or false, not {text!r}")


def _networks(value: object) -> tuple[str, ...]:
    """Addresses or networks, a list (TOML) or comma-separated (environment)."""
    items = value if isinstance(value, list | tuple) else _text(value).split(",")
    networks: list[str] = []
    for item in items:
        text = _text(item).strip()
        if not text:
            continue
        try:
            networks.append(str(ipaddress.ip_network(text, strict=False)))
        except ValueError:
            raise ValueError(f"{text!r} is not an address or a network") from None
    return tuple(networks)


def _urls(value: object) -> tuple[str, ...]:
    """STUN/TURN server URLs, a list (TOML) or comma-separated (environment)."""
    items = value if isinstance(value, list | tuple) else _text(value).split(",")
    urls = tuple(text for text in (_text(item).strip() for item in items) if text)
    for url in urls:
        if not url.startswith(("stun:", "turn:", "turns:")):
            raise ValueError(f"{url!r} is not a stun:, turn: or turns: URL")
    return urls


def _from_toml(path: Path, problems: list[str]) -> dict[str, object]:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        problems.append(f"config file {path}: {exc.strerror}")
        return {}
    except tomllib.TOMLDecodeError as exc:
        problems.append(f"config file {path}: {exc}")
        return {}
    problems.extend(
        f"config file {path}: unknown setting {k!r}" for k in document if k not in _PARSERS
    )
    return {key: value for key, value in document.items() if key in _PARSERS}


def _from_env(environ: Mapping[str, str], problems: list[str]) -> dict[str, object]:
    values: dict[str, object] = {}
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX) or key == CONFIG_ENV or key in CLIENT_ENV:
            continue
        name = key[len(ENV_PREFIX) :].lower()
        if name in _PARSERS:
            values[name] = value
        else:
            problems.append(f"{key}: unknown setting")
    return values


def _build(values: Mapping[str, object], problems: list[str]) -> Settings:
    parsed: dict[str, Any] = {}
    for name, raw in values.items():
        try:
            parsed[name] = _PARSERS[name](raw)
        except ValueError as exc:
            problems.append(f"{name}: {exc}")
    return dataclasses.replace(Settings(), **parsed)
