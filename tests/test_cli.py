"""The turbo command and Kernel.inspect."""

import subprocess
import sys

import numpy as np
import pytest

import turbo
from turbo.cli import main

GEMM = """
kernel gemm(C: f32[M, N], A: f32[M, K], B: f32[K, N]) {
    for m in 0:M, n in 0:N {
        acc = 0.0
        for k in 0:K { acc += A[m, k] * B[k, n] }
        C[m, n] = acc
    }
}
kernel scale(y: f64[N], a: f64) { for i in 0:N { y[i] *= a } }
"""


@pytest.fixture
def gemm_file(tmp_path):
    p = tmp_path / "gemm.loop"
    p.write_text(GEMM)
    return p


def test_inspect_loops_prints_parseable_dsl(gemm_file, capsys):
    assert main(["inspect", str(gemm_file), "--emit", "loops", "--kernel", "gemm"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("kernel gemm(C: f32[M, N], A: f32[M, K], B: f32[K, N]) {")
    assert turbo.parse(out).kernels[0] == turbo.parse(GEMM).kernels[0]


def test_inspect_llvm_and_asm(gemm_file, capsys):
    assert main(["inspect", str(gemm_file), "--emit", "llvm", "--kernel", "gemm"]) == 0
    llvm = capsys.readouterr().out
    assert "define" in llvm and "fmul" in llvm and "ptr noalias" in llvm
    assert main(["inspect", str(gemm_file), "--emit", "asm", "--kernel", "scale"]) == 0
    asm = capsys.readouterr().out
    assert "ret" in asm and any(op in asm for op in ("mulsd", "vmulsd", "vmulpd"))


def test_inspect_with_static_dims(gemm_file, capsys):
    assert main(["inspect", str(gemm_file), "--emit", "loops", "--kernel", "gemm", "--dims", "M=4,N=8,K=2"]) == 0
    out = capsys.readouterr().out
    assert "C: f32[4, 8]" in out and "for k in 0:2" in out
    assert main(["inspect", str(gemm_file), "--emit", "llvm", "--kernel", "gemm", "--dims", "M=4,N=8,K=2"]) == 0


def test_cli_reports_errors_without_traceback(tmp_path):
    bad = tmp_path / "bad.loop"
    bad.write_text("kernel f(x: f32[N]) {\n  x[0] = q\n}\n")
    r = subprocess.run([sys.executable, "-m", "turbo.cli", "inspect", str(bad)], capture_output=True, text=True)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert "undefined name 'q'" in r.stderr and "line 2, column 10" in r.stderr and "^" in r.stderr
    r = subprocess.run([sys.executable, "-m", "turbo.cli", "check", str(tmp_path / "missing.loop")], capture_output=True, text=True)
    assert r.returncode == 1 and "Traceback" not in r.stderr


def test_check_command(gemm_file, capsys):
    assert main(["check", str(gemm_file)]) == 0
    assert "ok  gemm(C: f32[M, N], A: f32[M, K], B: f32[K, N])" in capsys.readouterr().out


def test_kernel_inspect_api_and_example_args():
    mod = turbo.compile(GEMM)
    k = mod.gemm
    assert k.inspect("loops") == str(k.ir)
    A = np.ones((3, 4), np.float32)
    B = np.ones((4, 5), np.float32)
    C = np.zeros((3, 5), np.float32)
    strided = k.inspect("llvm-unoptimized", C, A.T.copy().T, B)
    contiguous = k.inspect("llvm-unoptimized", C, A, B)
    assert strided != contiguous  # a different variant for a Fortran-ordered A
    with pytest.raises(ValueError):
        k.inspect("nonsense")


def test_demo_runs(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "matches NumPy" in out and "MISMATCH" not in out


def test_debug_ladder_dumps_stages(gemm_file):
    code = f"import turbo, numpy as np; m = turbo.load({str(gemm_file)!r}); m.scale(np.ones(3), 2.0)"
    env = {"TURBO_DEBUG": "4", "TURBO_CACHE": "0", "PATH": ""}
    import os
    env = dict(os.environ, **env)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert "compiled scale" in r.stderr and "after frontend" in r.stderr and "define" in r.stderr
