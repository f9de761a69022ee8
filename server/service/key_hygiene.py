"""Warnings about how the node's secrets sit on disk, for `bidroom serve` to say out loud.

The node key signs receipts, tokens and tree heads, and every at-rest key is derived from it:
whoever reads it can speak for the node and read what the node keeps sealed. A plain PEM, or a
key or passphrase file that other users can read, is a deployment mistake the node can see, so
it says so at every start rather than leaving it to the threat model.

The test of a key file's permissions is `server.keyfiles.too_open`, the one the command line
uses for the participants' keys too (where it refuses rather than warns).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from server.keyfiles import too_open

if TYPE_CHECKING:
    from pathlib import Path

    from server.config import Settings

# What PKCS#8 PEM files begin with: pyca writes the second form when a passphrase is given.
PLAIN_PEM: Final = b"-----BEGIN PRIVATE KEY-----"
ENCRYPTED_PEM: Final = b"-----BEGIN ENCRYPTED PRIVATE KEY-----"


def key_warnings(settings: Settings) -> list[str]:
    """Every problem with the node's key files, as bilingual sentences; empty when all is well."""
    warnings = _node_key_warnings(settings)
    for name, path in (
        ("节点密钥口令文件 The node key's passphrase file", settings.node_key_passphrase_file),
        ("TLS 私钥 The TLS private key", settings.tls_key),
    ):
        if path is not None:
            warnings += _shared_file_warning(name, path)
    return warnings


def _node_key_warnings(settings: Settings) -> list[str]:
    path = settings.node_key_path
    if not path.exists():
        if settings.node_key_passphrase is None:
            return [
                f"节点密钥 {path} 将以明文创建。 The node key {path} will be created without a "
                "passphrase: " + _ADVICE
            ]
        return []
    # Its permissions are said where it is loaded, by every command (node_key_warnings).
    warnings: list[str] = []
    with path.open("rb") as handle:
        start = handle.read(len(ENCRYPTED_PEM))
    if start.startswith(PLAIN_PEM):
        warnings.append(
            f"节点密钥 {path} 未加密存放。 The node key {path} is stored unencrypted: " + _ADVICE
        )
    return warnings


def node_key_warnings(path: Path) -> list[str]:
    """What `load_node_key` logs each time it loads the node key: whether others may read it."""
    return _shared_file_warning("节点密钥 The node key", path)


def _shared_file_warning(name: str, path: Path) -> list[str]:
    mode = too_open(path)
    if mode is None:
        return []  # only the owner can use it, or it is missing (a settings error, said there)
    return [
        f"{name} {path} 可被其他用户读取（权限 {mode}）。 It is readable by "
        f"other users (mode {mode}): run `chmod 600 {path}`."
    ]


_ADVICE: Final = (
    "anyone who copies it can sign as the node and open what the node keeps sealed at rest. "
    "protect it with a passphrase (`bidroom key protect --key FILE --passphrase-env VAR`); "
    "a service reads the passphrase from BIDROOM_NODE_KEY_PASSPHRASE_FILE (e.g. a systemd "
    "credential) or BIDROOM_NODE_KEY_PASSPHRASE."
)
