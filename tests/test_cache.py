"""The disk cache, exercised in child processes: reuse, corruption, foreign entries."""

import json
import os
import pathlib
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent("""
    import json, sys, warnings
    import numpy as np
    import turbo
    from turbo.passes import schedule
    from turbo.runtime import cache, jit
    if "--other-code" in sys.argv:  # as if turbo's passes had been edited
        jit.code_fingerprint = lambda: "edited"
    scheduled = []
    real_schedule = schedule.schedule
    schedule.schedule = lambda *a, **k: scheduled.append(1) or real_schedule(*a, **k)
    mod = turbo.compile('''
    kernel axpy(y: f64[N], x: f64[N], a: f64) { for i in 0:N { y[i] += a * x[i] } }
    ''')
    y = np.zeros(5); x = np.arange(5.0)
    mod.axpy(y, x, 2.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scan = turbo.compile("kernel f(y: f64[n]) {\\n    for i in 1:n { y[i] += y[i - 1] }\\n}", parallel=True)
        z = np.ones(4)
        scan.f(z)
    print(json.dumps({"stats": cache.stats, "y": y.tolist(), "z": z.tolist(), "scheduled": len(scheduled),
                      "warnings": [str(w.message) for w in caught]}))
""")


def run_child(cache_dir: pathlib.Path, *flags: str) -> dict:
    env = dict(os.environ, TURBO_CACHE_DIR=str(cache_dir))
    env.pop("TURBO_CACHE", None)
    out = subprocess.run([sys.executable, "-c", CHILD, *flags], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_second_process_reuses_compiled_code(tmp_path):
    first = run_child(tmp_path)
    assert first["stats"]["hits"] == 0 and first["stats"]["writes"] >= 2  # variant + entry point
    assert first["y"] == [0.0, 2.0, 4.0, 6.0, 8.0]
    second = run_child(tmp_path)
    assert second["stats"]["writes"] == 0, "second process recompiled"
    assert second["stats"]["hits"] == first["stats"]["writes"]
    assert second["y"] == first["y"]
    assert second["z"] == first["z"] == [1.0, 2.0, 3.0, 4.0]


def test_cached_kernels_skip_scheduling_unless_scheduling_warns(tmp_path):
    first = run_child(tmp_path)
    assert first["scheduled"] == 2
    second = run_child(tmp_path)
    # axpy's code is found by what it was made from, before any pass runs; the
    # parallel scan is scheduled again, so its warning is given again
    assert second["scheduled"] == 1
    assert any("runs on one thread" in w for w in first["warnings"])
    assert second["warnings"] == first["warnings"]


def test_code_from_other_passes_is_not_reused(tmp_path):
    first = run_child(tmp_path)
    edited = run_child(tmp_path, "--other-code")
    assert edited["scheduled"] == first["scheduled"]
    assert edited["stats"]["writes"] >= 2  # axpy's variant and entry under new keys
    assert edited["y"] == first["y"]


def test_corrupt_entries_are_rebuilt_not_executed(tmp_path):
    run_child(tmp_path)
    entries = sorted(tmp_path.glob("*.o"))
    assert entries
    for p in entries:
        blob = bytearray(p.read_bytes())
        blob[-20] ^= 0xFF  # flip bits in the machine code
        p.write_bytes(bytes(blob))
    again = run_child(tmp_path)
    assert again["stats"]["rejected"] == len(entries)
    assert again["stats"]["writes"] == len(entries)
    assert again["y"] == [0.0, 2.0, 4.0, 6.0, 8.0]


def test_truncated_and_foreign_entries_are_rejected(tmp_path):
    run_child(tmp_path)
    entries = sorted(tmp_path.glob("*.o"))
    entries[0].write_bytes(entries[0].read_bytes()[:30])  # truncated
    if len(entries) > 1:
        # an intact entry stored under another key: its header names the wrong key
        entries[1].write_bytes(_foreign(entries[1]))
    again = run_child(tmp_path)
    assert again["stats"]["rejected"] == min(len(entries), 2)
    assert again["y"] == [0.0, 2.0, 4.0, 6.0, 8.0]


def _foreign(path: pathlib.Path) -> bytes:
    from turbo.runtime.cache import MAGIC
    blob = path.read_bytes()
    pos = len(MAGIC)
    other_key = ("0" * 64).encode()
    return blob[:pos] + other_key + blob[pos + 64:]


def test_cache_can_be_disabled(tmp_path):
    env = dict(os.environ, TURBO_CACHE_DIR=str(tmp_path), TURBO_CACHE="0")
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1])["stats"]["writes"] == 0
    assert not list(tmp_path.glob("*.o"))
