"""Every benchmark, one after the other, then one table of their ratios (``make bench``).

Each benchmark runs as its own process, as ``uv run python -m bench.NAME`` would, and appends
every ratio it prints to a results file; the table lists benchmark, figure, ceiling, ratio,
target and whether the target was met. A benchmark that crashes is named at the end and the
command fails.

Run: ``uv run python -m bench [--only NAME ...] [--results FILE]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

BENCHMARKS = (
    "api_throughput",
    "rate_limit",
    "webhook_ingest",
    "insurer_import",
    "portal_sync",
    "document_delivery",
    "reconciliation",
    "scale_out",
    "event_delivery",
)
ROOT = Path(__file__).resolve().parent.parent


def _number(value: float, unit: str) -> str:
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"
    return f"{text} {unit}".rstrip()


def table(rows: list[dict[str, object]], when: datetime) -> str:
    """The results as a Markdown table (it reads the same in a terminal and in the README)."""
    lines = [
        f"Benchmarks on {os.cpu_count()} cores, {when:%Y-%m-%d %H:%M} UTC",
        "",
        "| benchmark | figure | ceiling | ratio | target | met |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        unit = str(r.get("unit") or "")
        target = r.get("target")
        ratio = float(r["ratio"])  # type: ignore[arg-type]
        met = "—" if target is None else ("yes" if ratio >= float(target) else "**no**")  # type: ignore[arg-type]
        lines.append(
            f"| {r['benchmark']}: {r['name']} | {_number(float(r['figure']), unit)} "  # type: ignore[arg-type]
            f"| {_number(float(r['ceiling']), unit)} | {ratio:.3f} "  # type: ignore[arg-type]
            f"| {'—' if target is None else f'≥ {target}'} | {met} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--only", nargs="*", choices=BENCHMARKS, help="run these benchmarks only")
    parser.add_argument("--results", type=Path, help="keep the JSON lines here (default: a temporary file)")
    args = parser.parse_args()
    results = args.results or Path(tempfile.mkstemp(prefix="ponte-bench-", suffix=".jsonl")[1])
    results.write_text("")
    started = datetime.now(UTC)
    failed = []
    for name in args.only or BENCHMARKS:
        env = {**os.environ, "PONTE_BENCH_RESULTS": str(results)}
        if subprocess.run([sys.executable, "-m", f"bench.{name}"], cwd=ROOT, env=env, check=False).returncode:
            failed.append(name)
    rows = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    print("\n" + table(rows, started), flush=True)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
