"""A reader for JSON objects that collects every problem before it complains."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Final, TypeVar

from server.protocol.times import parse_time

E = TypeVar("E", bound=enum.Enum)
# What `Reader.time` returns for a missing or invalid timestamp (finish() raises anyway).
UNSET_TIME: Final = datetime.min.replace(tzinfo=UTC)
MAX_LIST_ITEMS: Final = 1000
_DECIMAL: Final = re.compile(r"(0|[1-9][0-9]{0,14})(\.[0-9]{1,6})?")
# Control characters and lone surrogates: refused in any text field.
_UNWANTED: Final = re.compile(r"[\x00-\x1f\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a request: where (a dotted path) and what."""

    path: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


class InvalidFields(ValueError):
    """A request has one or more invalid fields; all of them are listed."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = tuple(problems)
        summary = "; ".join(f"{p.path or '(body)'}: {p.message}" for p in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(f"The request is invalid: {summary}{more}.")


class Reader:
    """Typed access to a JSON object; problems are collected, `finish()` raises them together.

    A getter that finds a problem records it and returns a placeholder of the right type, so
    that one pass finds every problem; `finish()` must be called before the values are used.
    """

    def __init__(
        self, value: object, path: str = "", problems: list[Problem] | None = None
    ) -> None:
        self._path = path
        self._problems: list[Problem] = [] if problems is None else problems
        self._seen: set[str] = set()
        self._children: list[Reader] = []
        if isinstance(value, Mapping):
            self._value: Mapping[str, object] = value
        else:
            self._value = {}
            self._problems.append(Problem(path, "must be a JSON object"))

    def _where(self, name: str) -> str:
        return f"{self._path}.{name}" if self._path else name

    def problem(self, name: str, message: str) -> None:
        self._problems.append(Problem(self._where(name), message))

    def has(self, name: str) -> bool:
        return name in self._value

    def _get(self, name: str, kind: str) -> object | None:
        self._seen.add(name)
        if name not in self._value:
            self.problem(name, f"is required ({kind})")
            return None
        return self._value[name]

    def raw(self, name: str, kind: str) -> object | None:
        """A required value taken as it is, for a parser further on (`kind` names it)."""
        return self._get(name, kind)

    def text(
        self,
        name: str,
        *,
        max_len: int = 200,
        min_len: int = 1,
        pattern: re.Pattern[str] | None = None,
    ) -> str:
        value = self._get(name, "a string")
        if value is None:
            return ""
        if not isinstance(value, str):
            self.problem(name, "must be a string")
        elif not min_len <= len(value) <= max_len:
            self.problem(name, f"must be {min_len} to {max_len} characters long")
        elif pattern is not None and not pattern.fullmatch(value):
            self.problem(name, f"must match {pattern.pattern}")
        elif _UNWANTED.search(value):
            self.problem(name, "must not contain control characters or lone surrogates")
        else:
            return value
        return ""

    def integer(self, name: str, *, low: int, high: int) -> int:
        value = self._get(name, "an integer")
        if value is None:
            return low
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(name, "must be an integer")
        elif not low <= value <= high:
            self.problem(name, f"must be between {low} and {high}")
        else:
            return value
        return low

    def decimal(self, name: str, *, low: Decimal, high: Decimal, places: int = 2) -> Decimal:
        """A decimal string ("12.5"): exact, with at most `places` decimals, within bounds."""
        text = self.text(name, max_len=24)
        if not text:
            return low
        if not _DECIMAL.fullmatch(text):
            self.problem(name, 'must be a decimal number as a string, e.g. "12.5"')
            return low
        value = Decimal(text)
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and -exponent > places:
            self.problem(name, f"must have at most {places} decimals")
        elif not low <= value <= high:
            self.problem(name, f"must be between {low} and {high}")
        else:
            return value
        return low

    def boolean(self, name: str) -> bool:
        value = self._get(name, "true or false")
        if isinstance(value, bool):
            return value
        if value is not None:
            self.problem(name, "must be true or false")
        return False

    def time(self, name: str) -> datetime:
        text = self.text(name, max_len=40)
        if not text:
            return UNSET_TIME
        try:
            return parse_time(text)
        except ValueError as exc:
            self.problem(name, str(exc))
            return UNSET_TIME

    def choice(self, name: str, kind: type[E]) -> E | None:
        text = self.text(name, max_len=64)
        for member in kind:
            if member.value == text:
                return member
        if text:
            allowed = ", ".join(str(m.value) for m in kind)
            self.problem(name, f"must be one of: {allowed}")
        return None

    def text_map(
        self, name: str, *, key_pattern: re.Pattern[str], max_items: int, max_len: int = 200
    ) -> dict[str, str]:
        """An object whose members are all strings, such as free-form attributes."""
        reader = self.child(name)
        if len(reader._value) > max_items:
            self.problem(name, f"must have at most {max_items} members")
            return {}
        result = {}
        for key in reader._value:
            if not key_pattern.fullmatch(key):
                reader.problem(key, f"member names must match {key_pattern.pattern}")
                reader._seen.add(key)
            else:
                result[key] = reader.text(key, max_len=max_len)
        return result

    def members(
        self, name: str, *, key_pattern: re.Pattern[str], max_items: int
    ) -> list[tuple[str, Reader]]:
        """An object keyed by ids whose members are objects: each with its own reader."""
        return self.child(name).entries(key_pattern=key_pattern, max_items=max_items)

    def entries(self, *, key_pattern: re.Pattern[str], max_items: int) -> list[tuple[str, Reader]]:
        """This object's own members, all objects keyed by ids, each with its own reader."""
        if len(self._value) > max_items:
            self._problems.append(Problem(self._path, f"must have at most {max_items} members"))
            self._seen.update(self._value)
            return []
        result = []
        for key in self._value:
            if not key_pattern.fullmatch(key):
                self.problem(key, f"member names must match {key_pattern.pattern}")
                self._seen.add(key)
            else:
                result.append((key, self.child(key)))
        return result

    def child(self, name: str) -> Reader:
        reader = Reader(self._get(name, "an object") or {}, self._where(name), self._problems)
        self._children.append(reader)
        return reader

    def items(self, name: str, *, min_len: int = 0, max_len: int = MAX_LIST_ITEMS) -> list[Reader]:
        value = self._get(name, "a list")
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(name, "must be a list")
            return []
        if not min_len <= len(value) <= max_len:
            self.problem(name, f"must have {min_len} to {max_len} items")
            return []
        readers = [
            Reader(item, f"{self._where(name)}[{i}]", self._problems)
            for i, item in enumerate(value)
        ]
        self._children.extend(readers)
        return readers

    def strings(
        self, name: str, *, pattern: re.Pattern[str], max_len: int, min_len: int = 0
    ) -> list[str]:
        """A list of strings, each matching `pattern`."""
        value = self._get(name, "a list of strings")
        if value is None:
            return []
        if not isinstance(value, list) or not min_len <= len(value) <= max_len:
            self.problem(name, f"must be a list of {min_len} to {max_len} strings")
            return []
        bad = [
            i
            for i, item in enumerate(value)
            if not isinstance(item, str) or not pattern.fullmatch(item)
        ]
        for i in bad:
            self._problems.append(
                Problem(f"{self._where(name)}[{i}]", f"must match {pattern.pattern}")
            )
        return [] if bad else list(value)

    def optional_text(self, name: str, *, max_len: int = 200) -> str | None:
        """A string that may be absent or null."""
        self._seen.add(name)
        if self._value.get(name) is None:
            return None
        return self.text(name, max_len=max_len)

    def optional(self, name: str) -> bool:
        """True if the field is present; marks it as known either way."""
        self._seen.add(name)
        return name in self._value

    def finish(self) -> None:
        """Raise InvalidFields listing every problem, unknown fields included."""
        self._check_unknown()
        if self._problems:
            raise InvalidFields(self._problems)

    def _check_unknown(self) -> None:
        for name in self._value:
            if name not in self._seen:
                self.problem(name, "is not a known field")
        for child in self._children:
            child._check_unknown()
