"""The documents stand alone: README.md and docs/ link only to files of this repository (that
exist), and to the web only at a few standards bodies; nothing points at notes kept elsewhere."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
# Standards a reader may need to open; everything else the documents say themselves.
ALLOWED_HOSTS = frozenset({"www.rfc-editor.org", "datatracker.ietf.org", "www.w3.org"})
# Example addresses in commands and settings (RFC 2606 / RFC 6761 names, this machine).
EXAMPLE_HOST = re.compile(r"(^|\.)(example|example\.(org|com|net)|localhost)$|^127\.0\.0\.1$")

INLINE = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"(?m)^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
AUTOLINK = re.compile(r"<((?:https?|ftp)://[^>\s]+)>")
BARE_URL = re.compile(r"\b(?:https?|ftp)://[^\s)>\]`'\"]+")
FENCE = re.compile(r"(?ms)^\s*(```|~~~).*?^\s*\1")


def links(text: str) -> list[str]:
    """Link targets in Markdown, outside code blocks (inline code can't be a link either)."""
    prose = re.sub(r"`[^`\n]*`", "", FENCE.sub("", text))
    return [*INLINE.findall(prose), *REFERENCE.findall(prose), *AUTOLINK.findall(prose)]


def problems_of(document: Path, root: Path = ROOT) -> list[str]:
    text = document.read_text(encoding="utf-8")
    found = []
    for target in links(text):
        parts = urlsplit(target)
        if parts.scheme in {"http", "https"}:
            if parts.hostname not in ALLOWED_HOSTS:
                found.append(f"a link out of the repository: {target}")
        elif parts.scheme == "mailto" or (parts.scheme == "" and target.startswith("#")):
            continue
        elif parts.scheme or parts.netloc:
            found.append(f"a link that is not a file of the repository: {target}")
        else:
            path = (document.parent / unquote(parts.path)).resolve()
            if not path.is_relative_to(root):
                found.append(f"a relative link that leaves the repository: {target}")
            elif not path.exists():
                found.append(f"a link to no file: {target}")
    # Addresses written out anywhere, code included, are examples or standards, never a source.
    for url in BARE_URL.findall(text):
        host = urlsplit(url).hostname or ""
        if host not in ALLOWED_HOSTS and not EXAMPLE_HOST.search(host):
            found.append(f"an address out of the repository: {url}")
    # Documents named in the text (`see docs/sites.md`) are files of the repository too.
    named = re.findall(r"(?<![\w/.])((?:docs|deploy)/[\w./-]+\.\w+)", text)
    found += [f"names a file the repository lacks: {n}" for n in named if not (root / n).exists()]
    if "../shared" in text or re.search(r"\bshared/design\b", text):
        found.append("a reference to design notes kept outside the repository")
    return found


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_a_document_links_only_inside_the_repository(document: Path) -> None:
    assert problems_of(document) == []


def test_the_check_finds_each_kind_of_link_out(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "there.md").write_text("# there\n")
    page = tmp_path / "docs" / "page.md"
    page.write_text(
        "[ok](there.md) [ok](there.md#part) [ok](#here) [rfc](https://www.rfc-editor.org/rfc/rfc8785)\n"
        "[notes](../../shared/design/STYLE.md) [gone](missing.md) [web](https://blog.example.com/x)\n"
        "[ref]: ../../outside.md\n"
        "```\ncurl https://bid.example/api/node  # an example address: fine\n```\n"
        "see https://github.com/someone/else and <https://pypi.org/project/x>\n"
        "as docs/there.md and docs/design.md say\n"
    )
    found = problems_of(page, root=tmp_path)
    assert found == [
        "a relative link that leaves the repository: ../../shared/design/STYLE.md",
        "a link to no file: missing.md",
        "a link out of the repository: https://blog.example.com/x",
        "a relative link that leaves the repository: ../../outside.md",
        "a link out of the repository: https://pypi.org/project/x",
        "an address out of the repository: https://github.com/someone/else",
        "an address out of the repository: https://pypi.org/project/x",
        "names a file the repository lacks: docs/design.md",
        "a reference to design notes kept outside the repository",
    ]


def test_every_document_is_reachable_from_the_readme() -> None:
    reached = {ROOT / "README.md"}
    todo = [ROOT / "README.md"]
    while todo:
        document = todo.pop()
        for target in links(document.read_text(encoding="utf-8")):
            parts = urlsplit(target)
            path = (document.parent / unquote(parts.path)).resolve()
            if not parts.scheme and path.suffix == ".md" and path.is_file() and path not in reached:
                reached.add(path)
                todo.append(path)
    unreached = sorted(p.relative_to(ROOT).as_posix() for p in set(DOCUMENTS) - reached)
    assert unreached == []


GUIDES = sorted([ROOT / "docs" / "deploy.md", *(ROOT / "docs" / "guides").glob("*.md")])
COMMAND = re.compile(r"\bbidroom((?: [a-z][a-z-]*)+)")


def commands_in(text: str) -> list[list[str]]:
    """The `bidroom ...` commands of a document's code: the words up to the first option."""
    code = [*re.findall(r"`([^`\n]+)`", text), *(m[0] for m in FENCE.finditer(text))]
    return [match.split() for block in code for match in COMMAND.findall(block)]


def unknown_word(words: list[str]) -> str | None:
    """The first word the CLI would not take as a command or action; None if all are taken
    (words after a command without actions are its arguments)."""
    from server.cli import parser

    command = parser()
    for word in words:
        # argparse keeps subcommands as the choices of a sub-parsers action
        choices = next((a.choices for a in command._actions if isinstance(a.choices, dict)), None)
        if choices is None:
            return None
        if word not in choices:
            return word
        command = choices[word]
    return None


@pytest.mark.parametrize("document", GUIDES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_the_guides_show_only_commands_that_exist(document: Path) -> None:
    for words in commands_in(document.read_text(encoding="utf-8")):
        assert unknown_word(words) is None, f"bidroom {' '.join(words)}: no such command"


def test_the_command_check_knows_a_missing_action() -> None:
    text = "run `bidroom bidder seal --tender t` or\n```\nbidroom audit verify x\n```\n"
    assert commands_in(text) == [["bidder", "seal"], ["audit", "verify", "x"]]
    assert unknown_word(["bidder", "seal"]) is None
    assert unknown_word(["backup", "somewhere"]) is None
    assert unknown_word(["bidder", "teleport"]) == "teleport"
    assert unknown_word(["fly", "away"]) == "fly"
