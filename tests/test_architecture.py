"""The layering rules of docs/design.md, checked by parsing every import."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("server", "evaluator_client", "crypto", "recordings")


def modules(package: str) -> Iterator[tuple[str, Path]]:
    for path in sorted((ROOT / package).rglob("*.py")):
        dotted = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        yield dotted.removesuffix(".__init__"), path


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def project_imports(path: Path) -> set[str]:
    return {name for name in imports(path) if name.split(".")[0] in PACKAGES}


def test_only_crypto_touches_hazmat() -> None:
    offenders = [
        name
        for package in PACKAGES
        if package != "crypto"
        for name, path in modules(package)
        if any(
            i.startswith("cryptography.hazmat") or i == "cryptography.exceptions"
            for i in imports(path)
        )
    ]
    assert offenders == []


def test_crypto_imports_nothing_from_the_project() -> None:
    for name, path in modules("crypto"):
        assert {i for i in project_imports(path) if not i.startswith("crypto")} == set(), name


def test_recordings_imports_only_crypto() -> None:
    for name, path in modules("recordings"):
        allowed = ("crypto", "recordings")
        assert all(i.startswith(allowed) for i in project_imports(path)), name


@pytest.mark.parametrize(("name", "path"), list(modules("server")))
def test_server_layers_only_import_downwards(name: str, path: Path) -> None:
    found = project_imports(path)
    if name.startswith("server.domain"):
        # The draw and the signed documents are specified computations that verifiers re-run:
        # the node's domain shares them with recordings/ rather than keeping a copy.
        allowed: tuple[str, ...] = (
            "server.domain", "server.protocol", "recordings.draw", "recordings.documents",
            "recordings.vocabulary",
        )  # fmt: skip
    elif name.startswith("server.protocol"):
        allowed = ("server.protocol", "crypto")
    elif name.startswith("server.service"):
        allowed = ("server.service", "server.domain", "server.protocol", "server.storage.base",
                   "server.storage.blobs", "server.bus.base", "server.clock", "server.config",
                   "server.errors", "crypto", "recordings")  # fmt: skip
    elif name.startswith(("server.storage", "server.bus")):
        allowed = ("server.storage", "server.bus", "server.errors", "recordings", "crypto")
    else:
        return  # transport, app and cli sit on top and may use everything below
    assert {i for i in found if not i.startswith(allowed)} == set()


def test_domain_has_no_io_clock_or_randomness() -> None:
    banned = {"asyncio", "aiohttp", "sqlite3", "redis", "aiortc", "secrets", "os", "time"}
    for name, path in modules("server"):
        if name.startswith("server.domain"):
            source = path.read_text(encoding="utf-8")
            assert not {i.split(".")[0] for i in imports(path)} & banned, name
            assert "async def" not in source, name
            assert "datetime.now" not in source, name


def test_protocol_and_client_do_not_pull_in_aiohttp_server() -> None:
    for package in ("server.protocol", "evaluator_client"):
        for name, path in modules(package.split(".")[0]):
            if not name.startswith(package):
                continue
            assert not any(i.startswith("aiohttp.web") for i in imports(path)), name
            assert not any(
                i.startswith("server.") and not i.startswith("server.protocol")
                for i in project_imports(path)
            ), name


def test_server_package_init_is_empty() -> None:
    assert (ROOT / "server" / "__init__.py").read_text(encoding="utf-8").strip() == ""
