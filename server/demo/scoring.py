"""A scoring scheme as a tender's documents would fix it; the demo, the tests and the
benchmarks use it (docs/spec/evaluation.md section 1)."""

from __future__ import annotations

from typing import Any


def sample_scoring(**changes: Any) -> dict[str, Any]:
    """综合评估法: two subjective criteria, one objective, price 30 (a fresh dict each call)."""
    scoring: dict[str, Any] = {
        "method": "comprehensive",
        "price_weight": 30,
        "compliance": [
            {"id": "C1", "name": "投标函签字盖章 signed and sealed bid letter"},
            {"id": "C2", "name": "资质证书有效 valid qualification certificate"},
        ],
        "criteria": [
            {"id": "T1", "name": "施工组织设计 construction plan", "kind": "subjective",
             "max": "30", "step": "0.5"},
            {"id": "T2", "name": "项目管理机构 project team", "kind": "subjective",
             "max": "20", "step": "0.5"},
            {"id": "T3", "name": "类似工程业绩 similar projects", "kind": "objective",
             "max": "20", "step": "1"},
        ],
        "deviation": "0.3",
        "drop_extremes": False,
        "candidates": 3,
        "evaluation_minutes": 240,
        "signing_minutes": 60,
    }  # fmt: skip
    scoring.update(changes)
    return scoring
