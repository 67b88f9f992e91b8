"""Index scans (passes/scans.py): a subscript computed from data that changes
along fewer loops than the nest has is scanned before the nest for its smallest
and largest values; when they lie inside the array, the nest runs without those
checks. Against the plain Python function (results, and the error with the
elements written before it), and what explain() says."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import turbo
from turbo import turbo as jit


def bilinear(out, img):
    for i in range(out.shape[0]):
        fy = i * 0.73
        y0 = int(fy)
        dy = fy - y0
        for j in range(out.shape[1]):
            fx = j * 0.73
            x0 = int(fx)
            dx = fx - x0
            out[i, j] = ((1 - dy) * ((1 - dx) * img[y0, x0] + dx * img[y0, x0 + 1])
                         + dy * ((1 - dx) * img[y0 + 1, x0] + dx * img[y0 + 1, x0 + 1]))


def embedding_bag(out, W, idx):
    for b in range(idx.shape[0]):
        for j in range(W.shape[1]):
            out[b, j] = 0.0
        for k in range(idx.shape[1]):
            r = idx[b, k]
            for j in range(W.shape[1]):
                out[b, j] += W[r, j]


def col_gather(out, W, idx):
    for i in range(W.shape[0]):
        for k in range(idx.shape[0]):
            out[i, k] = W[i, idx[k]]


def rows_then_last(out, W, idx):  # the user's r is read after the nest
    r = -7
    for b in range(idx.shape[0]):
        r = idx[b] + 1
        for j in range(W.shape[1]):
            out[b, j] = W[r - 1, j] * 2.0
    return r


def triangle_rows(acc, W, p):  # j's range reads i: the scan runs over the triangle
    for i in range(acc.shape[0]):
        for j in range(i, p.shape[0]):
            for k in range(W.shape[1]):
                acc[i, k] += W[p[j] % 5 + i - i, k]


def rows_if(out, W, idx, flag):  # the nest sits in a top-level if
    if flag > 0:
        for b in range(idx.shape[0]):
            r = idx[b]
            for j in range(W.shape[1]):
                out[b, j] = W[r, j] + 1.0


def two_nests(out, W, first, second):  # the same subscript text, r, in two nests
    for b in range(first.shape[0]):
        r = first[b]
        for j in range(W.shape[1]):
            out[b, j] = W[r, j]
    for b in range(second.shape[0]):
        r = second[b]
        for j in range(W.shape[1]):
            out[b, j] += W[r, j]


def late_def(out, W, idx):  # r holds the previous row's index: not scanned
    q = 0
    for b in range(idx.shape[0]):
        r = q
        q = idx[b]
        for j in range(W.shape[1]):
            out[b, j] = W[r, j]


def written_index(out, W, idx):  # the nest writes the index array: not scanned
    for b in range(idx.shape[0]):
        idx[b] = idx[b] % W.shape[0]
        for j in range(W.shape[1]):
            out[b, j] = W[idx[b], j]


def guarded(out, W, idx):  # the read happens only under an if: not scanned
    for b in range(idx.shape[0]):
        r = idx[b]
        for j in range(W.shape[1]):
            if r >= 0:
                out[b, j] = W[r, j]


def gather(y, x, p):  # the subscript changes along the only loop: not scanned
    for i in range(y.shape[0]):
        y[i] = 2.0 * x[p[i]]


def _run_both(fn, args, **options):
    """(plain Python's arrays and result or error, turbo's), on copies of ``args``."""
    out = []
    for f in (fn, jit(**options)(fn)):
        a = [x.copy() if isinstance(x, np.ndarray) else x for x in args]
        try:
            r = f(*a)
            err = None
        except IndexError as e:
            r, err = None, e
        out.append((a, r, err))
    return out


def _same(fn, args, **options):
    (pa, pr, perr), (ta, tr, terr) = _run_both(fn, args, **options)
    assert (perr is None) == (terr is None), (perr, terr)
    for x, y in zip(pa, ta):
        if isinstance(x, np.ndarray):
            tol = 1e-4 if x.dtype == np.float32 else 1e-9  # f32 kernels compute in f32, Python in f64
            np.testing.assert_allclose(y, x, rtol=tol, atol=tol)
    assert tr == pr
    return terr


def _explain(fn, args, **options) -> str:
    return jit(**options)(fn).explain(*args)


@pytest.mark.parametrize("dt", [np.float64, np.float32])
@pytest.mark.parametrize("h,w", [(0, 5), (1, 1), (3, 9), (17, 33)])
def test_bilinear_matches_python(dt, h, w):
    rng = np.random.default_rng(h * 100 + w)
    img = rng.standard_normal((h + 2, w + 2)).astype(dt)
    _same(bilinear, [np.zeros((h, w), dt), img])


def test_bilinear_scans_its_column_index_along_j_alone():
    text = _explain(bilinear, [np.zeros((8, 8)), np.zeros((10, 10))])
    assert "index scan: min(x0) and max(x0) over loop j, before the nest" in text
    assert "without the bounds checks of img when" in text


def test_bilinear_too_small_image_raises_where_python_does():
    img = np.arange(30.0).reshape(5, 6)
    err = _same(bilinear, [np.zeros((9, 7)), img])  # y0 + 1 reaches 5 at i = 6 (x0 + 1 stays below 6)
    assert err is not None and "img" in str(err)
    assert _same(bilinear, [np.zeros((5, 9)), img]) is not None  # x0 + 1 reaches 6 at j = 7


@pytest.mark.parametrize("B,K,V,D", [(0, 2, 3, 4), (1, 1, 1, 1), (5, 3, 7, 9), (16, 4, 50, 33)])
def test_embedding_bag_matches_numpy(B, K, V, D):
    rng = np.random.default_rng(B + K + V + D)
    W = rng.standard_normal((V, D))
    idx = rng.integers(0, V, (B, K))
    out = np.zeros((B, D))
    jit(embedding_bag)(out, W, idx)
    np.testing.assert_allclose(out, W[idx].sum(axis=1) if B else out)
    assert "index scan: min(r) and max(r) over loops b, k" in _explain(embedding_bag, [out, W, idx])


@pytest.mark.parametrize("bad", [7, 2**40])
def test_embedding_bag_bad_row_raises_after_the_same_writes(bad):
    rng = np.random.default_rng(0)
    W = rng.standard_normal((7, 10))
    idx = rng.integers(0, 7, (6, 3))
    idx[3, 1] = bad
    err = _same(embedding_bag, [np.zeros((6, 10)), W, idx])
    assert err is not None and "'W'" in str(err) and "out[b, j] += W[r, j]" in str(err)


def test_embedding_bag_negative_row_raises():  # Python would wrap it: turbo refuses it
    rng = np.random.default_rng(0)
    W = rng.standard_normal((7, 10))
    idx = rng.integers(0, 7, (6, 3))
    idx[3, 1] = -1
    out = np.zeros((6, 10))
    with pytest.raises(IndexError, match="index -1 is out of bounds for axis 0 of 'W'"):
        jit(embedding_bag)(out, W, idx)
    np.testing.assert_allclose(out[:3], W[idx[:3]].sum(axis=1))
    np.testing.assert_allclose(out[3], W[idx[3, 0]])  # the row in progress, as far as it got


def test_col_gather_good_and_bad():
    rng = np.random.default_rng(1)
    W = rng.standard_normal((9, 12))
    idx = rng.integers(0, 12, 20)
    out = np.zeros((9, 20))
    jit(col_gather)(out, W, idx)
    np.testing.assert_allclose(out, W[:, idx])
    idx[13] = 12
    assert _same(col_gather, [np.zeros((9, 20)), W, idx]) is not None


def test_the_scan_leaves_the_users_locals_alone():
    W = np.arange(12.0).reshape(4, 3)
    idx = np.array([2, 0, 3])
    _same(rows_then_last, [np.zeros((3, 3)), W, idx])
    assert "index scan" in _explain(rows_then_last, [np.zeros((3, 3)), W, idx])
    _same(rows_then_last, [np.zeros((0, 3)), W, idx[:0]])  # no rows: r keeps -7


def test_nest_inside_an_if():
    W = np.arange(12.0).reshape(4, 3)
    idx = np.array([2, 0, 3, 1])
    args = [np.zeros((4, 3)), W, idx, 1]
    assert "index scan: min(r) and max(r) over loop b" in _explain(rows_if, args)
    _same(rows_if, args)
    _same(rows_if, [np.zeros((4, 3)), W, np.array([2, 0, 4, 1]), 1])


def test_each_nest_scans_its_own_range():
    W = np.arange(12.0).reshape(4, 3)
    second = np.array([2, 0, 3, 4])  # out of range, in the second nest only
    args = [np.zeros((4, 3)), W, np.array([2, 0, 3, 1]), second]
    assert _explain(two_nests, args).count("index scan: min(r) and max(r) over loop b") >= 2
    err = _same(two_nests, args)
    assert err is not None and "out[b, j] += W[r, j]" in str(err)
    _same(two_nests, [np.zeros((4, 3)), W, np.array([2, 0, 3, 1]), np.array([1, 1, 0, 3])])


@pytest.mark.parametrize("n", [0, 1, 6, 13])
def test_triangular_scan(n):
    rng = np.random.default_rng(n)
    W = rng.standard_normal((5, 11))
    p = rng.integers(-20, 20, n)
    _same(triangle_rows, [np.zeros((n, 11)), W, p])
    assert "over loops i, j, before the nest" in _explain(triangle_rows, [np.zeros((n, 11)), W, p])


@pytest.mark.parametrize("fn", [late_def, written_index, guarded])
def test_not_scanned_and_still_right(fn):
    rng = np.random.default_rng(2)
    W = rng.standard_normal((6, 8))
    idx = rng.integers(0, 6, 9)
    args = [np.zeros((9, 8)), W, idx]
    assert "index scan" not in _explain(fn, args)
    _same(fn, args)
    idx[4] = 6
    _same(fn, [np.zeros((9, 8)), W, idx])


def test_a_subscript_changing_along_every_loop_is_not_scanned():
    x = np.arange(10.0)
    p = np.array([3, 1, 9, 0])
    assert "index scan" not in _explain(gather, [np.zeros(4), x, p])
    _same(gather, [np.zeros(4), x, p])


def test_no_scan_when_checks_are_off_or_all_on():
    args = [np.zeros((3, 4)), np.ones((5, 4)), np.array([[1, 2], [0, 4], [3, 3]])]
    for bc in (False, True):
        assert "index scan" not in _explain(embedding_bag, args, boundscheck=bc)
        _same(embedding_bag, args, boundscheck=bc)


def test_vectorize_false_keeps_the_scan_scalar():
    args = [np.zeros((3, 4)), np.ones((5, 4)), np.array([[1, 2], [0, 4], [3, 3]])]
    text = _explain(embedding_bag, args, vectorize=False)
    assert "index scan: min(r) and max(r) over loops b, k, before the nest (loops as written (scalar))" in text
    _same(embedding_bag, args, vectorize=False)


def test_dsl_kernel_is_scanned_too():
    src = """
kernel rows(out: f64[B, D], W: f64[V, D], idx: i64[B]) {
  for b in 0:B {
    r = idx[b]
    for j in 0:D {
      out[b, j] = W[r, j]
    }
  }
}
"""
    k = turbo.compile(src, "rows.loop").rows
    W = np.arange(20.0).reshape(5, 4)
    idx = np.array([4, 0, 2])
    out = np.zeros((3, 4))
    assert "index scan: min(r) and max(r) over loop b" in k.explain(out, W, idx)
    k(out, W, idx)
    np.testing.assert_array_equal(out, W[idx])
    idx[1] = 5
    with pytest.raises(IndexError, match="'W'"):
        k(out, W, idx)


def test_a_parallel_nest_is_scanned_too():
    rng = np.random.default_rng(3)
    W = rng.standard_normal((50, 33))
    idx = rng.integers(0, 50, (64, 4))
    out = np.zeros((64, 33))
    k = jit(parallel=True)(embedding_bag)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a nest too small to split may warn that it stays on one thread
        k(out, W, idx)
        np.testing.assert_allclose(out, W[idx].sum(axis=1))
        assert "index scan: min(r) and max(r) over loops b, k" in k.explain(out, W, idx)
        idx[40, 2] = 50
        with pytest.raises(IndexError, match="'W'"):
            k(out, W, idx)
