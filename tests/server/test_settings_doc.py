"""docs/settings.md is what server/settings_doc.py renders from the Settings class."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from server import settings_doc
from server.config import Settings, SettingsError

PAGE = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


def test_the_committed_settings_page_is_the_generated_one() -> None:
    # On a difference, regenerate: python -m server.settings_doc > docs/settings.md
    assert PAGE.read_text(encoding="utf-8") == settings_doc.render()


def test_every_setting_has_a_row_and_a_description() -> None:
    names = [field.name for field in dataclasses.fields(Settings)]
    assert sorted(settings_doc.DESCRIPTIONS) == sorted(names)
    page = settings_doc.render()
    for name in names:
        assert f"| `{name}` | `BIDROOM_{name.upper()}` |" in page
    assert "| `metrics_enabled` | `BIDROOM_METRICS_ENABLED` | `bool` | `true` |" in page
    assert "| `tls_cert` | `BIDROOM_TLS_CERT` | `Path \\| None` | (none) |" in page


def test_a_setting_without_a_description_fails_the_render(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    described = {k: v for k, v in settings_doc.DESCRIPTIONS.items() if k != "log_format"}
    monkeypatch.setattr(settings_doc, "DESCRIPTIONS", described)
    with pytest.raises(settings_doc.MissingDescription, match="log_format"):
        settings_doc.render()


def test_log_format_and_metrics_come_from_the_environment() -> None:
    environ = {"BIDROOM_LOG_FORMAT": "JSON", "BIDROOM_METRICS_ENABLED": "off"}
    settings = Settings.load(environ)
    assert (settings.log_format, settings.metrics_enabled) == ("json", False)
    with pytest.raises(SettingsError, match="log_format must be one of json, text"):
        Settings.load({"BIDROOM_LOG_FORMAT": "xml"})
