"""`bidroom serve`: run a node."""

from __future__ import annotations

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
    command.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(
        args, host=args.host, port=args.port, tls_cert=args.tls_cert, tls_key=args.tls_key
    )
    configure_logging(settings.log_level)
    for warning in key_warnings(settings):
        logger.warning("!!! %s", warning)
    context = None
    if settings.tls_cert is not None and settings.tls_key is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(settings.tls_cert, settings.tls_key)
    serving.run(create_app(settings), settings, context)
    return 0
