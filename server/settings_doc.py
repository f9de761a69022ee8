"""The settings reference (docs/settings.md), rendered from the Settings class itself.

Names, types and defaults come from `server.config.Settings`; only the descriptions are
written here, one per setting, and a test fails when a setting has none or the committed
page differs from what this renders. Regenerate the page with
`python -m server.settings_doc > docs/settings.md`.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Final

from server.config import CONFIG_ENV, ENV_PREFIX, Settings

DESCRIPTIONS: Final = {
    "data_dir": "The data directory: the SQLite log, the node key, sealed files, recordings.",
    "host": "The address to listen on; 0.0.0.0 (or ::) to listen on every interface.",
    "port": "The TCP port to listen on (0: any free port).",
    "tls_cert": "A PEM certificate chain: the node serves HTTPS and WSS itself (with tls_key).",
    "tls_key": "The PEM private key of tls_cert.",
    "node_key_passphrase": "The node key's passphrase, for interactive runs (secret).",
    "node_key_passphrase_file": "A file holding the node key's passphrase, for services.",
    "max_http_body_bytes": "The largest JSON request body; uploads have their own limit.",
    "max_ws_message_bytes": "The largest message on the live channel (control only).",
    "ws_heartbeat_seconds": "How often the node pings a live connection.",
    "ws_auth_timeout_seconds": "How long a new live connection has to authenticate.",
    "ws_backlog_bytes": "Unsent bytes above which a live client counts as slow.",
    "ws_backlog_seconds": "How long a client may stay slow before it is dropped.",
    "ws_send_buffer_bytes": "Unsent bytes past which a client is dropped at once.",
    "ws_max_subscriptions": "Streams one live connection may follow at once.",
    "ws_close_timeout_seconds": "How long a dropped client gets to read its close frame.",
    "ws_max_connections": "Live connections the node holds at most.",
    "ws_max_connections_per_address": "Live connections from one address at most.",
    "http_idle_timeout_seconds": "An idle HTTP connection is closed after this long.",
    "http_body_timeout_seconds": "A request body (or an upload piece) must arrive within this.",
    "token_ttl_seconds": "How long a login token is valid.",
    "challenge_ttl_seconds": "How long a login challenge may be answered.",
    "max_clock_skew_seconds": "The clock difference allowed between a client (or Redis) and "
    "the node.",
    "max_challenges_per_address": "Unanswered login challenges one address may hold.",
    "max_answered_challenges": "Answered challenges remembered (so none is used twice).",
    "max_tracked_callers": "Addresses and ids whose counters of refusals are kept.",
    "max_refusals_per_minute": "Refusals and failed logins recorded per caller per minute.",
    "max_failed_logins_per_minute": "Failed logins recorded per minute from everyone together.",
    "tree_head_every": "A signed tree head at least every this many events.",
    "log_level": "DEBUG, INFO, WARNING or ERROR.",
    "event_store": "Where the log is kept: sqlite (the data directory) or postgres.",
    "blob_store": "Where sealed files are kept: disk (the data directory).",
    "bus": "How commits reach the live hubs: local (in-process) or redis.",
    "site": "The site this node serves (main venue, secondary venue).",
    "redis_url": "The Redis joining the sites (secret: may hold a password).",
    "database_url": "The PostgreSQL of a home that can fail over (secret: may hold a password).",
    "home": "Whether this node may hold the home lease (several sites).",
    "cluster": "The prefix of every Redis key, so that clusters can share a Redis.",
    "public_url": "How clients and other nodes reach this node.",
    "lease_ttl_seconds": "How long the home lease lives unless renewed.",
    "redis_timeout_seconds": "The bound on every Redis call (and on each readiness check).",
    "forward_timeout_seconds": "How long an edge waits for the home to answer a command.",
    "presence_ttl_seconds": "How long a presence key lives without a refresh.",
    "trusted_proxies": "Reverse proxies whose Forwarded / X-Forwarded-For are believed "
    "(comma-separated addresses or networks).",
    "ice_servers": "STUN/TURN URLs for live media (comma-separated); none: nothing reaches out.",
    "max_sdp_bytes": "The largest media offer.",
    "media_connect_timeout_seconds": "How long a media session may take to connect.",
    "media_sessions_per_connection": "Media sessions one live connection may hold.",
    "max_media_sessions": "Media sessions the node holds at most.",
    "recording_segment_seconds": "The length of one recording segment.",
    "recording_retention_days": "How long recordings are kept.",
    "speech_voice": "The espeak-ng voice that reads the opening record aloud.",
    "log_format": "Log lines as text, or json: one JSON object per line (docs/operations.md).",
    "metrics_enabled": "Serve Prometheus metrics at /metrics (docs/operations.md).",
}

HEADER: Final = f"""# Settings reference

Generated from `server/config.py` by `python -m server.settings_doc`; do not edit by hand.

Every setting can come from a TOML file named by `{CONFIG_ENV}` (or `--config`), under its
name; from its environment variable; or from a flag where the command has one. The flag wins
over the environment, the environment over the file, the file over the default.
Lists in the environment are comma-separated; flags (`true`/`false`) accept `1`/`0`,
`yes`/`no`, `on`/`off`. What each default is for is written beside it in `server/config.py`.

| name | environment variable | type | default | description |
|---|---|---|---|---|
"""


class MissingDescription(LookupError):
    """A setting has no description here: write one in DESCRIPTIONS."""


def render() -> str:
    """The Markdown page: one row per setting, in the order the class declares them."""
    defaults = Settings()
    rows = []
    for field in dataclasses.fields(Settings):
        description = DESCRIPTIONS.get(field.name)
        if description is None:
            raise MissingDescription(f"Setting {field.name!r} has no description.")
        env = f"{ENV_PREFIX}{field.name.upper()}"
        default = _default(getattr(defaults, field.name))
        rows.append(
            f"| `{field.name}` | `{env}` | `{_cell(str(field.type))}` | {default} "
            f"| {_cell(description)} |"
        )
    return HEADER + "\n".join(rows) + "\n"


def _default(value: object) -> str:
    if value is None or value in ((), ""):
        return "(none)"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, tuple):
        return f"`{','.join(map(str, value))}`"
    if isinstance(value, Path):
        return f"`{value.as_posix()}`"
    return f"`{value}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


if __name__ == "__main__":
    sys.stdout.write(render())
