"""Failures a person can read: each kind becomes one line, what happened and what to do.

`main` (server/cli/__init__.py) hands every exception a command lets out to `explain`, which
names its kind, words it from the catalogue (messages.py) and gives the exit code of the kind;
docs/cli.md has the table. Nothing here prints a traceback: `bidroom --debug` does.
"""

from __future__ import annotations

import errno
import ssl
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

import aiohttp

from evaluator_client.errors import ApiError, ClientError
from server.cli.messages import EXIT_UNSUPPORTED, text
from server.config import SettingsError
from server.errors import Refused, ServerError
from server.protocol.fields import InvalidFields

if TYPE_CHECKING:
    from pathlib import Path

# Exit codes, one a kind (docs/cli.md).
EXIT_FAILED: Final = 1  # refused by a rule (the node's or this machine's), or another failure
EXIT_USAGE: Final = 2  # bad arguments or settings, a node URL without a scheme
EXIT_UNREACHABLE: Final = 4  # connection refused, unknown host, timeout, not a bidroom node
EXIT_TLS_MISMATCH: Final = 5  # https to a plain port, http to a TLS port, an untrusted certificate
EXIT_LOGIN: Final = 6  # the node refused the login (401)
EXIT_FORBIDDEN: Final = 7  # the node forbids this to this participant (403)
EXIT_NOT_FOUND: Final = 8  # the node has no such thing (404)
EXIT_KEY_FILE: Final = 9  # a key file missing, unreadable, not PEM, wrong passphrase, wrong kind
EXIT_DISK_FULL: Final = 10  # no space left while writing
EXIT_DECLINED: Final = 11  # asked before signing, the person said no: nothing was signed
EXIT_INTERRUPTED: Final = 130  # Ctrl-C
EXIT_INTERNAL: Final = 70  # a defect of bidroom: rerun with --debug and report it
EXIT_NOT_SUPPORTED: Final = EXIT_UNSUPPORTED  # 3: the node does not do what was asked


class Failure(Exception):
    """A failure of a known kind, worded from the catalogue: `raise Failure(code, id, **values)`."""

    def __init__(self, code: int, message: str, **values: object) -> None:
        self.code = code
        self.message = message
        self.values = values
        super().__init__(text(message, **values))


class KeyFileError(Failure):
    """A key file that can't be used, and why (missing, unreadable, not PEM, passphrase, kind)."""

    @classmethod
    def unreadable(cls, path: Path, exc: OSError) -> KeyFileError:
        if isinstance(exc, FileNotFoundError):
            return cls(EXIT_KEY_FILE, "fail.key_missing", path=path)
        return cls(EXIT_KEY_FILE, "fail.key_unreadable", path=path, reason=exc.strerror or exc)

    @classmethod
    def malformed(
        cls, path: Path, exc: Exception, secret: bytes | None, kind: str = "Ed25519"
    ) -> KeyFileError:
        """Why the PEM at `path` did not load: told apart from the file, not from the message."""
        try:
            data = path.read_bytes()
        except OSError as unreadable:
            return cls.unreadable(path, unreadable)
        if b"-----BEGIN" not in data:
            return cls(EXIT_KEY_FILE, "fail.key_not_pem", path=path)
        encrypted = b"ENCRYPTED" in data
        if encrypted and secret is None:
            return cls(EXIT_KEY_FILE, "fail.key_passphrase_needed", path=path)
        if not encrypted and secret is not None:
            return cls(EXIT_KEY_FILE, "fail.key_not_encrypted", path=path)
        if f"not an {kind} key" in str(exc):
            return cls(EXIT_KEY_FILE, "fail.key_kind", path=path, kind=kind)
        if encrypted:
            return cls(EXIT_KEY_FILE, "fail.key_passphrase_wrong", path=path)
        return cls(EXIT_KEY_FILE, "fail.key_not_pem", path=path)


def node_url_error(node: str) -> Failure:
    return Failure(EXIT_USAGE, "profile.bad_node", node=node)


def explain(exc: BaseException, node: str | None) -> tuple[int, str]:
    """The exit code and the one line for `exc`, raised while talking to `node` (if any)."""
    code, line = _explain(exc, node or "")
    return code, "bidroom: " + " ".join(line.split())  # one line, whatever the reason held


def _explain(exc: BaseException, node: str) -> tuple[int, str]:
    if isinstance(exc, Failure):
        return exc.code, str(exc)
    if isinstance(exc, ApiError):
        return _refused(exc)
    if isinstance(exc, aiohttp.ClientError | TimeoutError):
        return _network(exc, node)
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        if exc.filename:
            return EXIT_DISK_FULL, text("fail.disk_full", path=exc.filename)
        return EXIT_DISK_FULL, text("fail.disk_full_here")
    if isinstance(exc, SettingsError):
        return EXIT_USAGE, str(exc)
    if isinstance(exc, Refused):
        return EXIT_FAILED, text("fail.refused_here", rule=exc.rule, said=exc)
    if isinstance(exc, ServerError | InvalidFields | ClientError):
        return EXIT_FAILED, str(exc)
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED, text("fail.interrupted")
    return EXIT_INTERNAL, text("fail.internal", kind=type(exc).__name__, reason=exc)


def _refused(exc: ApiError) -> tuple[int, str]:
    message = exc.message or exc.code
    if exc.status == 401:
        return EXIT_LOGIN, text("fail.login", said=message)
    if exc.status == 403:
        return EXIT_FORBIDDEN, text("fail.forbidden", said=message)
    if exc.status == 404:
        return EXIT_NOT_FOUND, text("fail.not_found", said=message)
    if exc.code == "not_json":
        return EXIT_UNREACHABLE, text("fail.not_a_node", status=exc.status)
    if exc.rule:
        cite = text("fail.cite", cite=exc.cite) if exc.cite else ""
        return EXIT_FAILED, text("fail.rule", rule=exc.rule, said=message, cite=cite)
    return EXIT_FAILED, text("fail.refused", status=exc.status, code=exc.code, said=message)


def _network(exc: BaseException, node: str) -> tuple[int, str]:
    scheme = urlsplit(node).scheme
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        reason = getattr(exc.certificate_error, "verify_message", None) or exc.certificate_error
        return EXIT_TLS_MISMATCH, text("fail.certificate", node=node, reason=reason)
    if isinstance(exc, aiohttp.ClientSSLError) or isinstance(exc.__cause__, ssl.SSLError):
        return EXIT_TLS_MISMATCH, text("fail.tls_to_plain", node=node)
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return EXIT_UNREACHABLE, text("fail.dns", host=urlsplit(node).hostname or node)
    if isinstance(exc, aiohttp.ClientConnectorError):
        reason = exc.os_error.strerror or exc.os_error
        return EXIT_UNREACHABLE, text("fail.unreachable", node=node, reason=reason)
    if isinstance(exc, TimeoutError):
        return EXIT_UNREACHABLE, text("fail.timeout", node=node)
    dropped = isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError)
    if scheme == "http" and dropped:
        return EXIT_TLS_MISMATCH, text("fail.plain_to_tls", node=node)
    reason = str(exc) or type(exc).__name__
    return EXIT_UNREACHABLE, text("fail.unreachable", node=node, reason=reason)
