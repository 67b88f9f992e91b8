"""Argument checks at every call: wrong arguments raise, never crash, never run."""

import numpy as np
import pytest

import turbo
from helpers import compiled

SRC = """
kernel gemm(C: f32[M, N], A: f32[M, K], B: f32[K, N]) {
    for m in 0:M, n in 0:N {
        acc = 0.0
        for k in 0:K { acc += A[m, k] * B[k, n] }
        C[m, n] = acc
    }
}
kernel img(out: f64[28, 28], x: f64[28, 28], s: f64, n: i32) {
    for r in 0:28, c in 0:28 { out[r, c] = x[r, c] * s + f64(n) }
}
"""


@pytest.fixture(scope="module")
def mod():
    m = compiled(SRC)
    A, B, C = np.ones((2, 3), np.float32), np.ones((3, 4), np.float32), np.zeros((2, 4), np.float32)
    m.gemm(C, A, B)  # the fast entry point exists from here on
    return m


def arrays():
    return np.zeros((2, 4), np.float32), np.ones((2, 3), np.float32), np.ones((3, 4), np.float32)


def check(fn, args, exc, *words):
    with pytest.raises(exc) as info:
        fn(*args)
    assert isinstance(info.value, turbo.TurboError)
    for w in words:
        assert w in str(info.value), str(info.value)


def test_good_call_after_bad_calls_still_works(mod):
    C, A, B = arrays()
    check(mod.gemm, (C, A), TypeError, "gemm() takes 3 arguments (C, A, B), got 2")
    mod.gemm(C, A, B)
    np.testing.assert_array_equal(C, A @ B)


def test_argument_count_and_kinds(mod):
    C, A, B = arrays()
    check(mod.gemm, (C, A, B, B), TypeError, "takes 3 arguments")
    check(mod.gemm, (C, A, [[1.0]]), TypeError, "parameter 'B'", "expects a NumPy array, got list")
    check(mod.gemm, (C, A, 1.0), TypeError, "expects a NumPy array, got float")
    check(mod.gemm, (C, A, None), TypeError, "got NoneType")
    C[:] = 0
    mod.gemm(C, A, B=B)  # keywords are bound to the parameters (test_keyword_arguments_...)
    np.testing.assert_array_equal(C, A @ B)


def test_dtype_and_ndim(mod):
    C, A, B = arrays()
    check(mod.gemm, (C, A.astype(np.float64), B), TypeError, "parameter 'A'", "expects dtype float32 (f32), got float64", "astype")
    check(mod.gemm, (C, A.astype(np.int32), B), TypeError, "got int32")
    check(mod.gemm, (C, A[0], B), TypeError, "expects 2 dims, got an array of shape (3,)")
    check(mod.gemm, (C, A.astype(">f4"), B), TypeError, "native byte order")


def test_symbolic_dims_must_agree(mod):
    C, A, B = arrays()
    check(mod.gemm, (C, A, np.ones((4, 4), np.float32)), ValueError, "dim 'K' is 3 from A.shape[1] but 4 from B.shape[0]")
    check(mod.gemm, (np.zeros((3, 4), np.float32), A, B), ValueError, "dim 'M' is 3 from C.shape[0] but 2 from A.shape[0]")


def test_literal_dims(mod):
    x = np.ones((28, 28))
    check(mod.img, (np.zeros((28, 27)), x, 1.0, 1), ValueError, "parameter 'out'", "dim 1 must be 28")
    out = np.zeros((28, 28))
    mod.img(out, x, 2.0, 1)
    assert np.all(out == 3.0)


def test_scalars(mod):
    out, x = np.zeros((28, 28)), np.ones((28, 28))
    check(mod.img, (out, x, "2", 1), TypeError, "parameter 's' (f64) expects a number, got str")
    check(mod.img, (out, x, 2.0, 1.5), TypeError, "parameter 'n' (i32) expects an integer, got float")
    check(mod.img, (out, x, 2.0, 2**31), ValueError, "does not fit in i32")
    check(mod.img, (out, x, 2.0, True), TypeError, "expects a number, got bool")
    check(mod.img, (out, x, np.ones(1), 1), TypeError, "got ndarray")


def test_outputs_must_be_writeable(mod):
    C, A, B = arrays()
    C.flags.writeable = False
    check(mod.gemm, (C, A, B), ValueError, "parameter 'C'", "written by the kernel but the array is read-only")
    # read-only inputs are fine
    C2 = np.zeros((2, 4), np.float32)
    A.flags.writeable = False
    mod.gemm(C2, A, B)
    np.testing.assert_array_equal(C2, np.ones((2, 3)) @ np.ones((3, 4)))


def test_unaligned_arrays_are_refused(mod):
    buf = np.zeros(4 * 12 + 1, np.uint8)
    A = buf[1:].view(np.float32).reshape(2, 6)[:, :3]
    assert not A.flags.aligned
    C, _, B = arrays()
    check(mod.gemm, (C, A, B), ValueError, "not aligned")


def test_subclasses_and_views_go_through_the_slow_path(mod):
    class MyArray(np.ndarray):
        pass

    C, A, B = arrays()
    A2 = A.view(MyArray)
    mod.gemm(C, A2, B)
    np.testing.assert_array_equal(C, A @ B)
    # a non-canonical but equal dtype object
    Ad = A.view(np.dtype("float32", metadata={"x": 1}))
    C[:] = 0
    mod.gemm(C, Ad, B)
    np.testing.assert_array_equal(C, A @ B)


def test_python_ints_and_numpy_scalars_for_float_parameters(mod):
    out, x = np.zeros((28, 28)), np.ones((28, 28))
    mod.img(out, x, 2, np.int64(3))
    assert np.all(out == 5.0)
    mod.img(out, x, np.float32(0.5), np.int32(0))
    assert np.all(out == 0.5)


def test_error_names_the_kernel_and_parameter(mod):
    C, A, B = arrays()
    with pytest.raises(turbo.ArgumentTypeError) as info:
        mod.gemm(C, A, B.astype(np.float64))
    assert str(info.value).startswith("gemm(): parameter 'B' (B: f32[K, N])")


SCALARS = """
kernel mix(out: f64[N], x: f64[N], a: f32, b: f64, i: i32, j: i64, flag: bool) {
    for k in 0:N {
        v = x[k] * f64(a) + b + f64(i) + f64(j)
        if flag { v = -v }
        out[k] = v
    }
}
"""


def python_calls(fn, *args) -> list[str]:
    """The Python functions a call runs (none on the fast path)."""
    import sys

    seen = []
    sys.setprofile(lambda frame, event, arg: seen.append(frame.f_code.co_name) if event == "call" else None)
    try:
        fn(*args)
    finally:
        sys.setprofile(None)
    return seen


def test_numpy_scalars_of_the_parameters_types_take_the_fast_path():
    k = compiled(SCALARS).mix
    out, x = np.zeros(5), np.arange(5.0)
    k(out, x, 1.5, 2.0, 3, 4, False)  # compiles; the entry point exists from here on
    cases = [
        ((np.float32(0.25), np.float64(-1.5), np.int32(-7), np.int64(2**40), np.bool_(True)), []),
        ((0.25, -1.5, -7, 2**40, True), []),  # Python numbers, as before
        ((np.float32(3.0), np.float64(0.5), np.int32(2**31 - 1), np.int64(-(2**62)), np.bool_(False)), []),
        # another NumPy type than the parameter's: converted by the slow path
        ((np.float64(0.25), np.float32(-1.5), np.int64(-7), np.int32(5), np.bool_(True)), ["_slow"]),
    ]
    for (a, b, i, j, flag), slow in cases:
        out[:] = np.nan
        calls = python_calls(k, out, x, a, b, i, j, flag)
        assert [c for c in calls if c == "_slow"] == slow, calls
        want = x * np.float64(np.float32(a)) + np.float64(b) + float(i) + float(j)
        np.testing.assert_array_equal(out, -want if flag else want)


def test_keyword_arguments_are_bound_to_the_parameters(mod):
    out, x = np.zeros((28, 28)), np.ones((28, 28))
    mod.img(out, x, s=2.0, n=3)
    assert np.all(out == 5.0)
    out[:] = 0
    mod.img(n=np.int32(1), s=np.float64(0.5), x=x, out=out)
    assert np.all(out == 1.5)
    with pytest.raises(turbo.ArgumentTypeError, match="img\\(\\) missing 1 required argument: 'n'"):
        mod.img(out, x, s=2.0)
    with pytest.raises(turbo.ArgumentTypeError, match="unexpected keyword argument 'z'"):
        mod.img(out, x, 2.0, 1, z=3)
    with pytest.raises(turbo.ArgumentTypeError, match="multiple values for argument 'x'"):
        mod.img(out, x, 2.0, 1, x=x)
    with pytest.raises(turbo.ArgumentTypeError, match="takes 4 positional arguments"):
        mod.img(out, x, 2.0, 1, 5, s=1.0)
    # keywords with the wrong kind of value get the usual located check
    with pytest.raises(turbo.ArgumentTypeError, match="parameter 'n'"):
        mod.img(out, x, s=1.0, n=1.5)
