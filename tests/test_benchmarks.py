"""The benchmark suite runs (a smoke test: no timing is asserted)."""

import json
import subprocess
import sys
import pathlib

ROOT = pathlib.Path(__file__).parent.parent


def test_quick_suite_runs_and_checks_results(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--filter", "dot", "call_overhead", "--dtypes", "f32",
         "--no-plots", "--no-latency", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    (json_file,) = tmp_path.glob("*.json")
    data = json.loads(json_file.read_text())
    turbo_rows = [x for x in data["results"] if x["system"] == "turbo"]
    assert {x["kernel"] for x in turbo_rows} == {"dot", "selfdot", "dot3", "call_overhead"}
    assert all(x["status"] == "ok" and x["seconds"] > 0 for x in turbo_rows)
    assert data["peaks"]["f32"] > 0
