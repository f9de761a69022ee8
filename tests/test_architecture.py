"""The layering rules of docs/architecture.md, checked by parsing every import.

Direct imports are checked per layer; what a module loads when it runs is checked over the
whole import graph (transitively), so a rule can't be dodged through a module in between.
"""

from __future__ import annotations

import ast
import functools
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
                   "server.errors", "server.keyfiles", "crypto", "recordings")  # fmt: skip
    elif name.startswith("server.storage"):
        allowed = ("server.storage", "server.bus", "server.errors", "recordings", "crypto")
    elif name.startswith("server.bus"):
        # The bus between sites reads its Redis, cluster and timeouts from the settings.
        allowed = ("server.storage", "server.bus", "server.config", "server.errors",
                   "recordings", "crypto")  # fmt: skip
    elif name.startswith("server.media"):
        # Live media sits beside the transports: it submits commands to the node (grants,
        # its own records) and never reaches into the stores or the transports.
        allowed = ("server.media", "server.service", "server.domain", "server.protocol",
                   "server.bus.base", "server.config", "server.errors", "recordings",
                   "crypto")  # fmt: skip
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


# The import graph: what each module loads when it runs (imports under TYPE_CHECKING are
# for the type checker only and load nothing).


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_imports(path: Path) -> set[str]:
    """Project modules `path` loads when it runs: `from a import b` loads `a.b` if a module."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for statement in node.orelse:
                visit(statement)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(
                f"{node.module}.{alias.name}"
                for alias in node.names
                if f"{node.module}.{alias.name}" in _all_modules()
            )
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return {name for name in found if name.split(".")[0] in PACKAGES}


@functools.cache
def _all_modules() -> dict[str, Path]:
    return {name: path for package in PACKAGES for name, path in modules(package)}


@functools.cache
def loads(name: str, skip: frozenset[str] = frozenset()) -> frozenset[str]:
    """Every project module that loading `name` loads, packages' __init__ included,
    not following the modules in `skip`."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop()
        if current in seen or current in skip or current not in _all_modules():
            continue
        seen.add(current)
        parts = current.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # parent packages
        todo.extend(runtime_imports(_all_modules()[current]))
    seen.discard(name)
    return frozenset(seen)


def _reaching(name: str, banned: tuple[str, ...], skip: frozenset[str] = frozenset()) -> set[str]:
    return {m for m in loads(name, skip) if m.startswith(banned)}


def test_the_import_graph_sees_through_modules_in_between() -> None:
    # The checker itself: the CLI's bidder command loads the client library through the CLI's
    # own helpers; a module loads its parent packages.
    assert "evaluator_client.session" in loads("server.cli.remote")
    assert "server.cli" in loads("server.cli.remote")
    assert "server.domain.errors" in loads("server.domain.opening")


@pytest.mark.parametrize(
    ("package", "banned"),
    [
        # The pure layers stay pure however deep one looks.
        ("crypto", ("server", "evaluator_client", "recordings")),
        ("recordings", ("server", "evaluator_client")),
        ("server.protocol", ("server.domain", "server.service", "server.storage", "server.bus",
                             "server.transport", "server.cli", "server.app", "evaluator_client")),
        ("server.domain", ("server.service", "server.storage", "server.bus", "server.transport",
                           "server.cli", "server.app", "server.live", "evaluator_client")),
        ("server.service", ("server.storage.sqlite", "server.storage.disk_blobs",
                            "server.storage.memory", "server.bus.local", "server.backends",
                            "server.transport", "server.cli", "server.app", "server.demo")),
        ("server.storage", ("server.service", "server.domain", "server.transport", "server.cli")),
        # A workstation never loads the node.
        ("evaluator_client", ("server.domain", "server.service", "server.storage", "server.bus",
                              "server.transport", "server.app", "server.live", "server.cli")),
        # Transport reaches the node through its entries, never a store or a bus itself.
        ("server.transport", ("server.storage.sqlite", "server.storage.disk_blobs",
                              "server.bus.local", "server.backends", "server.cli",
                              "server.demo", "server.app")),
        ("server.app", ("server.cli", "server.demo")),
    ],
)  # fmt: skip
def test_no_layer_loads_what_sits_above_it(package: str, banned: tuple[str, ...]) -> None:
    for name in _all_modules():
        if name == package or name.startswith(package + "."):
            assert _reaching(name, banned) == set(), name


# What transport may use of the service layer when it runs: the command path, the node's
# entries (login, sessions, subscriptions) and the typed views with their schemas, and the
# request bodies' schemas (the OpenAPI document).
TRANSPORT_USES: tuple[str, ...] = (
    "server.service.commands", "server.service.node", "server.service.views",
    "server.service.schema", "server.service.bodies",
)  # fmt: skip


TRANSPORT = [(n, p) for n, p in modules("server") if n.startswith("server.transport")]


@pytest.mark.parametrize(("name", "path"), TRANSPORT)
def test_transport_submits_commands_and_calls_no_use_case(name: str, path: Path) -> None:
    used = {m for m in runtime_imports(path) if m.startswith("server.service")}
    assert used <= set(TRANSPORT_USES), name
    assert not any(i.startswith(("server.storage", "server.bus")) for i in imports(path)), name


# The command line's client side: commands that talk to a node over its API, as any client.
CLIENT_COMMANDS: tuple[str, ...] = (
    "server.cli.bidder", "server.cli.expert", "server.cli.remote", "server.cli.keys",
    "server.cli.draw", "server.cli.common",
    "server.cli.host", "server.cli.participants", "server.cli.profiles", "server.cli.messages",
    "server.cli.jsonc", "server.cli.version",
)  # fmt: skip
NODE_INTERNALS: tuple[str, ...] = (
    "server.domain", "server.service", "server.storage", "server.bus", "server.transport",
    "server.app", "server.backends", "server.console", "server.live", "server.audit_export",
)  # fmt: skip


def test_the_cli_never_imports_the_domain() -> None:
    for name, path in modules("server"):
        if name.startswith("server.cli"):
            assert not any(i.startswith("server.domain") for i in imports(path)), name


@pytest.mark.parametrize("name", CLIENT_COMMANDS)
def test_client_commands_read_what_the_node_publishes(name: str) -> None:
    # `server.cli` itself is the dispatcher that lists every command, the node's own among
    # them; what is checked is what each client command needs, through any chain of imports.
    assert _reaching(name, NODE_INTERNALS, frozenset({"server.cli"})) == set()


def test_the_node_side_of_the_cli_goes_through_its_console() -> None:
    # serve, admin, audit and demo run the node in this process; they reach it through
    # app/console/audit_export and the settings, not through its services or stores.
    for name, path in modules("server"):
        if name.startswith("server.cli"):
            direct = {
                i
                for i in imports(path)
                if i.startswith(
                    ("server.service", "server.storage", "server.bus", "server.backends")
                )
            }
            assert direct <= {"server.service.key_hygiene"}, name
