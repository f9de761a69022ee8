"""`bidroom serve`: run a node."""

from __future__ import annotations

import dataclasses
import logging
import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Any

from server.app import create_app
from server.cli.common import add_settings_flags, configure_logging, settings_from
from server.service.key_hygiene import key_warnings
from server.transport import serving

if TYPE_CHECKING:
    import argparse

logger = logging.getLogger(__name__)


def register(commands: Any) -> None:
    command: argparse.ArgumentParser = commands.add_parser("serve", help="run a node")
    add_settings_flags(command)
    command.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    command.add_argument("--port", type=int, help="port to listen on (default 8080)")
    command.add_argument("--tls-cert", type=Path, help="PEM certificate chain for HTTPS/WSS")
    command.add_argument("--tls-key", type=Path, help="PEM private key for the certificate")
    command.add_argument(
        "--log-format", choices=("text", "json"), help="log lines as text or JSON (default text)"
    )
    sites = command.add_argument_group("several sites (docs/sites.md)")
    sites.add_argument("--site", help="the site this node serves, e.g. main or venue-2")
    sites.add_argument(
        "--redis", metavar="URL", help="the Redis joining the sites (or BIDROOM_REDIS_URL)"
    )
    sites.add_argument(
        "--database", metavar="URL", help="PostgreSQL, shared by the home and its standbys"
    )
    sites.add_argument(
        "--home", action="store_true", default=None, help="this node may hold the home lease"
    )
    sites.add_argument("--public-url", help="how clients reach this node, e.g. https://host:8443")
    command.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(
        args, host=args.host, port=args.port, tls_cert=args.tls_cert, tls_key=args.tls_key,
        site=args.site, redis_url=args.redis, database_url=args.database, home=args.home,
        public_url=args.public_url or None, log_format=args.log_format,
    )  # fmt: skip
    configure_logging(settings.log_level, settings.log_format)
    for warning in key_warnings(settings):
        logger.warning("!!! %s", warning)
    context = None
    if settings.tls_cert is not None and settings.tls_key is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(settings.tls_cert, settings.tls_key)
    if settings.redis_url is not None and not settings.public_url:
        scheme = "https" if context is not None else "http"
        settings = dataclasses.replace(
            settings, public_url=f"{scheme}://{settings.host}:{settings.port}"
        )
    serving.run(create_app(settings, on_lost=serving.stop_now), settings, context)
    return 0
