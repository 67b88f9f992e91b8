"""The first call's compile path: the entry point compiles on a worker thread while
the calling thread schedules and generates the kernel's code (jit.compile_later)."""

import itertools
import threading

import numpy as np
import pytest

import turbo
from turbo.errors import CompilerError
from turbo.runtime import jit

_fresh = itertools.count()


def fresh_axpy():
    """A kernel no earlier test compiled (its code is not loaded in this process)."""
    k = next(_fresh)
    src = f"kernel axpy_{k}(y: f64[N], x: f64[N], a: f64) {{ for i in 0:N {{ y[i] += a * x[i] + {k}.0 }} }}"
    return getattr(turbo.compile(src), f"axpy_{k}"), float(k)


def test_first_calls_from_several_threads_at_once():
    kernel, c = fresh_axpy()
    x = np.arange(37.0)
    ys = [np.zeros(37) for _ in range(4)]
    start = threading.Barrier(len(ys))
    errors = []

    def call(y):
        try:
            start.wait()
            kernel(y, x, 2.0)
        except BaseException as e:  # reported below, not lost in the thread
            errors.append(e)

    threads = [threading.Thread(target=call, args=(y,)) for y in ys]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for y in ys:
        np.testing.assert_array_equal(y, 2.0 * x + c)
    assert type(type(kernel).__call__).__name__ == "builtin_function_or_method"


def test_a_failed_entry_compile_is_raised_by_the_call_and_retried(monkeypatch):
    kernel, c = fresh_axpy()
    real = jit.compile_text

    def failing(text, symbols, pass_name, key=None, speed=jit.SPEED_LEVEL):
        if pass_name.startswith("entry["):
            raise CompilerError("injected failure", pass_name)
        return real(text, symbols, pass_name, key, speed)

    monkeypatch.setattr(jit, "compile_text", failing)
    y, x = np.zeros(5), np.arange(5.0)
    with pytest.raises(CompilerError, match="injected failure"):
        kernel(y, x, 1.0)
    monkeypatch.setattr(jit, "compile_text", real)
    kernel(y, x, 1.0)
    np.testing.assert_array_equal(y, x + c)
    kernel(y, x, 1.0)  # through the entry point now
    np.testing.assert_array_equal(y, 2 * (x + c))


@pytest.mark.parametrize("fails", [False, True], ids=["compiles", "fails"])
def test_a_background_compile_shortens_the_switch_interval_only_while_it_runs(monkeypatch, fails):
    """The worker's calls into LLVM each need the GIL back when they return: while
    one runs, the interval after which a Python thread hands the GIL over is
    short, and afterwards it is the user's again, however the compile ended."""
    import sys

    started, go = threading.Event(), threading.Event()
    real = jit.compile_text

    def gated(text, symbols, pass_name, key=None, speed=jit.SPEED_LEVEL):
        started.set()
        go.wait(10)
        if fails:
            raise CompilerError("injected failure", pass_name)
        return real(text, symbols, pass_name, key, speed)

    monkeypatch.setattr(jit, "compile_text", gated)
    before = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.004)
        module = jit.new_module("switch")
        jobs = [jit.compile_later(module, [], "switch") for _ in range(2)]
        assert started.wait(10)
        assert sys.getswitchinterval() < 0.001
        go.set()
        for job in jobs:
            if fails:
                with pytest.raises(CompilerError, match="injected"):
                    job.result()
            else:
                job.result()
        assert sys.getswitchinterval() == pytest.approx(0.004)
    finally:
        go.set()
        sys.setswitchinterval(before)


@pytest.mark.parametrize("enabled", [True, False], ids=["gc-on", "gc-off"])
@pytest.mark.parametrize("fails", [False, True], ids=["compiles", "fails"])
def test_the_collector_is_paused_during_a_compile_and_restored_after(monkeypatch, enabled, fails):
    """Python's garbage collector is off while a kernel compiles (a full
    collection in the middle of it cost a gemm's first call 10 ms), and as the
    user had it afterwards, however the compile ended."""
    import gc

    kernel, c = fresh_axpy()
    real = jit.compile_text
    seen = []

    def watched(text, symbols, pass_name, key=None, speed=jit.SPEED_LEVEL):
        if pass_name.startswith("codegen["):
            seen.append(gc.isenabled())
            if fails:
                raise CompilerError("injected failure", pass_name)
        return real(text, symbols, pass_name, key, speed)

    monkeypatch.setattr(jit, "compile_text", watched)
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        y, x = np.zeros(3), np.arange(3.0)
        if fails:
            with pytest.raises(CompilerError, match="injected"):
                kernel(y, x, 1.0)
        else:
            kernel(y, x, 1.0)
            np.testing.assert_array_equal(y, x + c)
        assert seen == [False]
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_nested_pauses_restore_the_collector_once():
    import gc

    assert gc.isenabled()
    with jit.collector_paused():
        with jit.collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_llvm_gets_O3_only_where_a_nest_runs_as_written():
    """-O2 for code whose loops the scheduler transformed; -O3 where a nest is left
    as written (its loops are LLVM's to optimize: an ELLPACK product ran 0.89x
    Numba at -O2, 1.32x at -O3)."""
    src = """
kernel axpy2(y: f64[N], x: f64[N], a: f64) { for i in 0:N { y[i] += a * x[i] } }
kernel prefix(y: f64[N], x: f64[N]) {
    s = 0.0
    for i in 0:N { s += x[i]; y[i] = s }
}
"""
    m = turbo.compile(src)
    y, x = np.zeros(9), np.arange(9.0)
    assert "chosen: loops as written" not in m.axpy2.explain(y, x, 2.0)
    assert m.axpy2.speed(m.axpy2.variant_for([y, x, 2.0])) == jit.SPEED_LEVEL == 2
    assert "chosen: loops as written (scalar)" in m.prefix.explain(y, x)
    assert m.prefix.speed(m.prefix.variant_for([y, x])) == jit.SPEED_LEVEL_SCALAR == 3
    m.prefix(y, x)
    np.testing.assert_array_equal(y, np.cumsum(x))
