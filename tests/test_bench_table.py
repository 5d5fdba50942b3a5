"""`make bench` ends with one table: each ratio a benchmark prints becomes one row of it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bench.__main__ import table
from bench.common import Report


def test_ratios_land_in_the_results_file_and_the_table_says_whether_targets_are_met(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = tmp_path / "results.jsonl"
    monkeypatch.setenv("PONTE_BENCH_RESULTS", str(results))
    report = Report("demo")
    report.ratio("deliveries / raw uploads", 600.0, 1500.0, target=0.3, unit="/s")
    report.ratio("SOAP import / raw upsert", 200.0, 2000.0, target=0.3, unit="policies/s")
    report.ratio("tasks/ping throughput", 50.0, 100.0)
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    assert [(r["name"], round(r["ratio"], 3), r["target"]) for r in rows] == [
        ("deliveries / raw uploads", 0.4, 0.3),
        ("SOAP import / raw upsert", 0.1, 0.3),
        ("tasks/ping throughput", 0.5, None),
    ]
    text = table(rows, datetime(2026, 12, 1, 23, 0, tzinfo=UTC))
    lines = text.splitlines()
    assert lines[0].endswith("2026-12-01 23:00 UTC")
    assert lines[2] == "| benchmark | figure | ceiling | ratio | target | met |"
    assert lines[4].endswith("| 600 /s | 1,500 /s | 0.400 | ≥ 0.3 | yes |")
    assert lines[5].endswith("| 200 policies/s | 2,000 policies/s | 0.100 | ≥ 0.3 | **no** |")
    assert lines[6].endswith("| 0.500 | — | — |")
