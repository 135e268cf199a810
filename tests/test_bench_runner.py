"""The benchmark runner (bench/run) end to end on its cheapest bench: a table, and JSON rows with goals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_quick_decode_run_writes_rows_with_ratio_goal_and_met(tmp_path: Path) -> None:
    out = tmp_path / "latest.json"
    done = subprocess.run(
        [str(ROOT / "bench" / "run"), "--quick", "--only", "decode", "--json", str(out), "--plot", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PYTHON": sys.executable, "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    assert result["quick"] is True
    assert result["skipped"] == []
    rows = result["rows"]
    assert {r["metric"] for r in rows} >= {"decode ble:2A35", "decode hl7", "decode astm", "decode cms50"}
    for row in rows:
        assert row["bench"] == "decode"
        assert row["ratio"] > 0
        assert row["goal"].startswith(">= 0.3x")
        assert isinstance(row["met"], bool)
        assert row["baseline"] > 0
        assert row["agent"] > 0
    # The table says the same: one line per row, with its goal and whether it is met.
    ble = next(line for line in done.stdout.splitlines() if line.startswith("decode ble:2A35"))
    assert ">= 100k/s" in ble
    assert ble.rstrip().endswith(("yes", "NO"))
    assert "Traceback" not in done.stdout + done.stderr


def test_a_failing_bench_is_one_line_not_a_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import runner
    finally:
        sys.path.remove(str(ROOT / "bench"))
    benches = tmp_path / "benches"
    benches.mkdir()
    (benches / "bench_boom.py").write_text("raise KeyError('no such meter')\n", encoding="utf-8")
    (benches / "bench_away.py").write_text(
        "import json, sys\n"
        "path = sys.argv[sys.argv.index('--rows') + 1]\n"
        "open(path, 'a').write(json.dumps({'bench': 'away', 'skip': 'needs a FHIR server'}) + '\\n')\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(runner, "HERE", benches)
    rows, skips = runner.run_bench("boom", quick=True, logs=tmp_path)
    assert rows == []
    assert skips == [{"bench": "boom", "skip": "failed (exit 1): KeyError: 'no such meter'"}]
    rows, skips = runner.run_bench("away", quick=True, logs=tmp_path)
    assert skips == [{"bench": "away", "skip": "needs a FHIR server"}]
    assert runner.table(rows, skips).splitlines()[-1] == "[away] skipped: needs a FHIR server"
