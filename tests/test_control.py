"""while loops, break and continue: in @turbo functions and the DSL, against the
plain Python function and the reference interpreter; how the scheduler treats
the loops holding them; the errors around them."""

from __future__ import annotations

import math

import numpy as np
import pytest

import turbo
from turbo import turbo as jit
from turbo.interpret import interpret

from helpers import AVX2, assert_same, scheduled
from pyloops import clamp as clip_chain  # an if/elif/else chain storing y[i] in every branch


def mandel(out, cr, ci, limit):
    for i in range(cr.shape[0]):
        for j in range(ci.shape[0]):
            zr = 0.0
            zi = 0.0
            k = 0
            while k < limit and zr * zr + zi * zi < 4.0:
                zr, zi = zr * zr - zi * zi + cr[i], 2.0 * zr * zi + ci[j]
                k += 1
            out[i, j] = k


def first_above(x, t):
    found = -1
    for i in range(x.shape[0]):
        if x[i] > t:
            found = i
            break
    return found


def sum_skipping(x):
    s = 0.0
    for i in range(x.shape[0]):
        if x[i] < 0.0:
            continue
        if x[i] > 1.5:
            break
        s += x[i]
    return s


def rows_until_negative(out, A):
    # break leaves the inner loop only
    for i in range(A.shape[0]):
        n = 0
        for j in range(A.shape[1]):
            if A[i, j] < 0.0:
                break
            n += 1
        out[i] = n


def gcd_all(out, a, b):
    for i in range(a.shape[0]):
        x = a[i]
        y = b[i]
        while y != 0:
            x, y = y, x % y
        out[i] = x


def collatz_steps(out, start):
    for i in range(start.shape[0]):
        n = start[i]
        steps = 0
        while True:
            if n == 1:
                break
            if n % 2 == 0:
                n = n // 2
            else:
                n = 3 * n + 1
            steps += 1
        out[i] = steps


def collatz_lanes(out, start):
    for i in range(start.shape[0]):
        n = start[i]
        steps = 0
        while n != 1:
            if n % 2 == 0:
                n = n // 2
            else:
                n = 3 * n + 1
            steps += 1
        out[i] = steps


def defined_unless_break(x):
    total = 0.0
    for i in range(x.shape[0]):
        if x[i] > 0.0:
            v = x[i]
        else:
            break
        total += v  # v is assigned on every path that gets here
    return total


def relax_until(u, tmp, tol):
    """Jacobi sweeps until the largest change is under tol: the sweep nests in the
    while loop's body are scheduled (vectorized) as any nest is."""
    sweeps = 0
    change = tol + 1.0
    while change > tol and sweeps < 500:
        change = 0.0
        for i in range(1, u.shape[0] - 1):
            for j in range(1, u.shape[1] - 1):
                tmp[i, j] = 0.25 * (u[i - 1, j] + u[i + 1, j] + u[i, j - 1] + u[i, j + 1])
        for i in range(1, u.shape[0] - 1):
            for j in range(1, u.shape[1] - 1):
                change = max(change, abs(tmp[i, j] - u[i, j]))
                u[i, j] = tmp[i, j]
        sweeps += 1
    return sweeps


def long_count(img, limit):
    # a counter updated in a while loop is never narrowed (it passes 2**15 here)
    k = 0
    s = 0
    while s < limit:
        s += int(img[k % img.shape[0]])
        k += 1
    return k


def nested_while_continue(out, x):
    for i in range(x.shape[0]):
        k = 0
        c = 0
        while k < 10:
            k += 1
            if k % 3 == 0:
                continue
            c += k
        out[i] = c + x[i]


def _copies(args):
    return [a.copy() if isinstance(a, np.ndarray) else a for a in args]


def check(fn, *args, rtol=0.0, **options):
    mine, ref = _copies(args), _copies(args)
    got = jit(fn, **options)(*mine)
    want = fn(*ref)
    for a, b in zip(mine, ref):
        if isinstance(a, np.ndarray):
            np.testing.assert_allclose(a, b, rtol=rtol)
    if want is None:
        assert got is None
    else:
        assert got == pytest.approx(want, rel=rtol)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("n", [0, 1, 7, 33])
def test_mandelbrot_matches_python(n, dt):
    """Vectorized along j: each lane iterates until its own point escapes. Without
    fastmath (no contraction into FMAs) the counts are Python's exactly; with it,
    a point on the set's boundary may escape an iteration earlier or later."""
    cr = np.linspace(-2.0, 1.0, n).astype(dt)
    ci = np.linspace(-1.5, 1.5, n + 2).astype(dt)
    check(mandel, np.zeros((n, n + 2), np.int64), cr, ci, 40, fastmath=False)
    for options in ({"vectorize": "j"}, {"vectorize": "j", "unroll": {"j": 3}}, {"vectorize": "j", "unroll": {"i": 2}},
                    {"vectorize": "i"}):
        check(mandel, np.zeros((n, n + 2), np.int64), cr, ci, 40, fastmath=False, **options)


@pytest.mark.parametrize("n", [0, 1, 5, 40])
def test_break_and_continue_match_python(n):
    rng = np.random.default_rng(n)
    x = rng.uniform(-1.0, 2.0, n)
    for t in (-5.0, 0.5, 1.9, 5.0):
        check(first_above, x, t)
    check(sum_skipping, x, rtol=1e-12)
    check(defined_unless_break, x, rtol=1e-12)
    A = rng.uniform(-0.2, 2.0, (n, n + 3))
    check(rows_until_negative, np.zeros(n, np.int64), A)
    check(nested_while_continue, np.zeros(n), x)


def test_integer_while_loops_match_python():
    rng = np.random.default_rng(3)
    a = rng.integers(1, 10**6, 50)
    b = rng.integers(0, 10**6, 50)
    check(gcd_all, np.zeros(50, np.int64), a, b)
    check(collatz_steps, np.zeros(30, np.int64), np.arange(1, 31, dtype=np.int64))
    for n in (1, 3, 4, 5, 29):
        check(collatz_lanes, np.zeros(n, np.int64), rng.integers(1, 10**5, n))
    # an if in the while body: lanes would run both branches and wait for the
    # slowest (0.4x the scalar loop, measured): as written
    text = jit(collatz_lanes).explain(np.zeros(9, np.int64), np.ones(9, np.int64))
    assert "loops as written" in text.split("rejected")[0], text
    assert "holds a while loop (line" in text, text


def test_a_counter_in_a_while_loop_is_not_narrowed():
    img = np.full(7, 3, np.uint8)
    assert jit(long_count)(img, 100_000) == long_count(img, 100_000) == 33_334


@pytest.mark.parametrize("n", [3, 4, 12, 21])
def test_nests_inside_a_while_loop_are_vectorized_and_match(n):
    rng = np.random.default_rng(n)
    u = rng.uniform(0, 1, (n, n))
    check(relax_until, u, np.zeros_like(u), 1e-3, rtol=1e-9)
    f = jit(relax_until)
    text = f.explain(u.copy(), np.zeros_like(u), 1e-3)
    assert text.count("vectorize j") >= 2, text


DSL = """
kernel steps(out: i64[N], x: f64[N], limit: i64) {
    for i in 0:N {
        v = x[i]
        k = 0
        while v > 1.0 and k < limit {
            v = v * 0.5
            k += 1
            if k == 7 { continue }
            if v < 0.01 { break }
        }
        out[i] = k
    }
}
kernel first_zero(x: i32[N]) {
    r = N
    for i in 0:N {
        if x[i] != 0 { continue }
        r = i
        break
    }
    return r
}
"""


def test_dsl_while_break_continue_match_the_interpreter_and_print_back():
    m = turbo.compile(DSL, "control.loop")
    rng = np.random.default_rng(5)
    for n in (0, 1, 9, 40):
        x = rng.uniform(0, 3000, n)
        assert_same(m.steps, np.zeros(n, np.int64), x, 12)
        z = (rng.random(n) < 0.8).astype(np.int32)
        assert_same(m.first_zero, z)
    again = turbo.compile(str(m.steps.ir), "again.loop")
    assert str(again.steps.ir) == str(m.steps.ir)
    assert "while v > 1.0 and k < limit {" in str(m.steps.ir)
    assert "continue" in str(m.first_zero.ir) and "break" in str(m.first_zero.ir)


def test_loops_holding_while_break_or_continue_run_as_written():
    m = turbo.compile(DSL, "control.loop")
    sched = scheduled(m.steps, AVX2)
    assert not sched.regions
    text = m.first_zero.explain(np.zeros(8, np.int32))
    assert "holds a continue (line" in text or "holds a break (line" in text
    # a while loop with a break of its own, inside the vector loop: as written
    assert "holds a while loop (line" in m.steps.explain(np.zeros(8, np.int64), np.ones(8), 5)


def halvings(out, x):
    for i in range(x.shape[0]):
        v = x[i]
        last = 0.0
        k = 0
        while v > 1.0:
            t = v * 0.5  # a temporary: set before each read, in every lane
            last = v  # read after the loop: kept in the lanes that stopped
            v = t
            k += 1
        out[i] = last + k


@pytest.mark.parametrize("n", [1, 3, 4, 5, 8, 9, 17, 40])
def test_lanes_of_a_vectorized_while_loop_stop_independently(n):
    x = np.random.default_rng(n).uniform(0.0, 5000.0, n)
    x[::3] = 0.5  # lanes that never run
    check(halvings, np.zeros(n), x, fastmath=False)
    for u in (1, 2, 3):
        check(halvings, np.zeros(n), x, fastmath=False, vectorize="i", unroll={"i": u})


def while_shapes(out, acc, x, y):
    for i in range(x.shape[0]):
        v = x[i]
        n = 0.0
        if y[i] > 0.0:  # the while runs only in the lanes the if takes
            while v > y[i]:  # a condition reading the vector loop's own elements
                v = v - y[i] - 0.25
                n += 1.0
                out[i] = v  # a store in the body: only running lanes store
        t = 0
        while t < 3:  # the same trip in every lane
            t += 1
        acc[i] += n + t  # read after both loops


@pytest.mark.parametrize("n", [1, 4, 5, 8, 13, 31])
def test_while_loops_under_ifs_with_stores_match_python(n):
    rng = np.random.default_rng(n)
    x = rng.uniform(-2.0, 40.0, n)
    y = rng.uniform(-1.0, 3.0, n)
    check(while_shapes, np.zeros(n), np.ones(n), x, y, fastmath=False)
    check(while_shapes, np.zeros(n), np.ones(n), x, y, fastmath=False, vectorize="i")


def test_a_while_loop_inside_the_vector_loop_runs_under_lane_masks():
    cr = np.linspace(-2, 1, 64)
    text = jit(mandel).explain(np.zeros((64, 64), np.int64), cr, cr, 10)
    assert "vectorize j" in text.split("rejected")[0], text
    llvm = jit(mandel).inspect("llvm", np.zeros((64, 64), np.int64), cr, cr, 10)
    assert "vwhile_head" in llvm


def mandel_for(out, cr, ci, limit):
    for i in range(cr.shape[0]):
        for j in range(ci.shape[0]):
            zr = 0.0
            zi = 0.0
            n = limit
            for k in range(limit):
                if zr * zr + zi * zi > 4.0:
                    n = k
                    break
                t = zr * zr - zi * zi + cr[i]  # a temporary, set before each read
                zi = 2.0 * zr * zi + ci[j]
                zr = t
            out[i, j] = n


def exits(out, hits, x, y, limit):
    for i in range(x.shape[0]):
        v = x[i]
        steps = -1
        last = 0.0
        for k in range(2, limit):
            if v < y[i]:  # straight-line code before the break, in the lanes that take it
                steps = k
                last = v * 2.0
                hits[i] = k
                break
            v = v * 0.75 - 0.5
            out[i] = v  # a store in the body: only the lanes still running store
            if v > 1000.0:  # a second exit if, with nothing but the break
                break
            last += 1.0
        out[i] += steps + last


@pytest.mark.parametrize("n", [0, 1, 3, 4, 5, 8, 9, 17, 40])
def test_lanes_of_a_vectorized_loop_with_breaks_leave_independently(n):
    rng = np.random.default_rng(n)
    x = rng.uniform(-4.0, 60.0, n)
    x[::4] = 2000.0  # lanes that leave by the second exit at once
    y = rng.uniform(-3.0, 5.0, n)
    y[1::5] = -1e9  # lanes that run the whole range
    for limit in (0, 3, 12):
        args = (np.zeros(n), np.zeros(n, np.int64), x, y, limit)
        check(exits, *args, fastmath=False)
        for options in ({"vectorize": "i"}, {"vectorize": "i", "unroll": {"i": 2}},
                        {"vectorize": "i", "unroll": {"i": 3}}):
            check(exits, *args, fastmath=False, **options)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("n", [0, 1, 7, 33])
def test_mandelbrot_written_with_a_for_loop_and_a_break_matches_python(n, dt):
    cr = np.linspace(-2.0, 1.0, n).astype(dt)
    ci = np.linspace(-1.5, 1.5, n + 2).astype(dt)
    check(mandel_for, np.zeros((n, n + 2), np.int64), cr, ci, 40, fastmath=False)
    for options in ({"vectorize": "j"}, {"vectorize": "j", "unroll": {"j": 2}}, {"vectorize": "j", "unroll": {"i": 2}},
                    {"vectorize": "i"}):
        check(mandel_for, np.zeros((n, n + 2), np.int64), cr, ci, 40, fastmath=False, **options)


def test_a_for_loop_with_a_break_inside_the_vector_loop_runs_under_lane_masks():
    cr = np.linspace(-2, 1, 64)
    args = (np.zeros((64, 64), np.int64), cr, cr, 50)
    text = jit(mandel_for).explain(*args)
    assert "vectorize j" in text.split("rejected")[0], text
    assert "vbreak_head" in jit(mandel_for).inspect("llvm-unoptimized", *args)
    # the break's loop itself is not vectorized: its trip count is not known on entry
    assert "loop k holds a break" in text


def halve_until_below_one(out, x):
    for i in range(x.shape[0]):
        v = x[i]
        c = 0
        while True:  # a while loop left by an exit if
            v = v * 0.5
            c += 1
            if v < 1.0:
                break
        out[i] = c + v


def counting_down(out, x):
    for i in range(x.shape[0]):
        r = -1
        for k in range(20, 0, -3):  # a downward range, an exit if first in the body
            if x[i] * k < 7.0:
                r = k
                break
        out[i] = r


def bare_break(out, x, m):
    for i in range(x.shape[0]):
        s = 0.0
        for k in range(m):  # a range the scalar argument sets
            if s > x[i]:
                break
            s += 0.5 * k
        out[i] = s


@pytest.mark.parametrize("n", [0, 1, 5, 8, 13, 40])
def test_other_loops_whose_lanes_leave_at_a_break_match_python(n):
    rng = np.random.default_rng(n)
    cases = ((halve_until_below_one, np.zeros(n), rng.uniform(0.1, 500.0, n)),
             (counting_down, np.zeros(n, np.int64), rng.uniform(0.0, 2.0, n)),
             (bare_break, np.zeros(n), rng.uniform(0.0, 30.0, n), 9))
    for fn, *args in cases:
        for options in ({}, {"vectorize": "i"}, {"vectorize": "i", "unroll": {"i": 2}}):
            check(fn, *args, fastmath=False, **options)


def other_breaks(out, x):
    for i in range(x.shape[0]):
        v = x[i]
        for _k in range(10):
            if v > 3.0:  # an exit if with an else: not a shape lanes run apart
                break
            else:
                v += 1.0
        out[i] = v


def test_a_for_loop_whose_break_sits_in_another_shape_runs_as_written():
    x = np.linspace(-5.0, 5.0, 20)
    check(other_breaks, np.zeros(20), x)
    text = jit(other_breaks).explain(np.zeros(20), x)
    assert "chosen: loops as written" in text and "holds a break (line" in text, text


def skip_negatives(out, x, y):
    for i in range(x.shape[0]):
        if x[i] < 0.0:
            continue
        v = x[i] * 2.0
        if y[i] > v:  # a second guard, with a statement before its continue
            out[i] = -1.0
            continue
        out[i] = v + y[i]


def continue_in_else(out, x):
    for i in range(x.shape[0]):
        if x[i] > 1.0:
            out[i] = 1.0
        elif x[i] > 0.0:
            out[i] = 2.0
        else:
            continue
        out[i] += x[i]


def count_kept(x):
    c = 0
    for i in range(x.shape[0]):
        if x[i] % 3 == 0:
            continue
        c += x[i]
    return c


def continue_in_rows(out, A):
    for i in range(A.shape[0]):
        for j in range(A.shape[1]):  # the inner loop's continue
            if A[i, j] < 0.0:
                continue
            out[i, j] = A[i, j] * 3.0


def continue_deep(out, x, y):
    for i in range(x.shape[0]):
        if x[i] > 0.0:
            if y[i] > 0.0:
                continue
            out[i] = 1.0
        out[i] += x[i] + y[i]  # follows both branches of the outer if


def nested_flags(out, x):
    for i in range(x.shape[0]):
        if x[i] > 0.5:
            k = 0
            c = 0
            while k < 6:  # a flag of its own, set in the outer loop's flagged branch
                k += 1
                if k > 2:
                    if k % 2 == 0:
                        continue
                c += k
            if c > 5 + x[i] * 4.0:
                continue
        out[i] = x[i] * 2.0


@pytest.mark.parametrize("n", [0, 1, 3, 4, 5, 8, 9, 17, 40])
def test_loops_with_continue_match_python(n):
    rng = np.random.default_rng(n)
    x, y = rng.uniform(-1.0, 2.0, n), rng.uniform(-1.0, 4.0, n)
    for options in ({}, {"vectorize": "i"}, {"vectorize": "i", "unroll": {"i": 2}}):
        check(skip_negatives, np.zeros(n), x, y, fastmath=False, **options)
        check(continue_in_else, np.zeros(n), x, fastmath=False, **options)
        check(count_kept, rng.integers(-50, 50, n), **options)
    for options in ({}, {"vectorize": "i"}, {"vectorize": "i", "unroll": {"i": 3}}):
        check(continue_deep, np.zeros(n), x, y, fastmath=False, **options)
    check(nested_flags, np.zeros(n), x)
    A = rng.uniform(-1.0, 1.0, (n, n + 2))
    for options in ({}, {"vectorize": "j"}, {"vectorize": "j", "unroll": {"i": 2}}):
        check(continue_in_rows, np.zeros((n, n + 2)), A, fastmath=False, **options)


def test_a_continue_becomes_the_structure_of_the_loop_body():
    """``if c { continue }; rest`` is ``if c {} else { rest }``: the loop is then
    straight-line code and ifs, and vectorizes."""
    from turbo.passes.continues import remove_continues

    m = turbo.compile("""
    kernel k(out: f64[N], x: f64[N]) {
        for i in 0:N {
            if x[i] < 0.0 { continue }
            out[i] = x[i]
        }
    }""")
    text = str(remove_continues(m.k.ir))
    assert "continue" not in text and "} else {" in text, text
    args = (np.zeros(32), np.ones(32), np.ones(32))
    text = jit(skip_negatives).explain(*args)
    assert "vectorize i" in text.split("rejected")[0], text
    text = jit(count_kept).explain(np.ones(32, np.int64))
    assert "vectorize i" in text.split("rejected")[0], text
    # where the rest would follow both branches of an if, a flag says whether the
    # iteration goes on
    deep = jit(continue_deep)
    deep(*args)
    text = str(remove_continues(deep.kernels[0].ir))
    assert "i.kept0 = True" in text and "i.kept0 = False" in text and "if i.kept0 {" in text, text
    text = deep.explain(*args)
    assert "vectorize i" in text.split("rejected")[0], text


def test_loads_in_a_branch_read_all_lanes_where_they_are_proven_in_bounds():
    """A branch's lanes are those its condition holds in; an element the bounds
    analysis proves in bounds for every iteration is read with a plain load
    anyway (a masked load costs several times more on AVX2). Without that proof
    (boundscheck=False: the user vouches for the accesses that run, not the
    others) the branch's load stays masked."""
    src = """
    kernel pos(out: f64[64], x: f64[64]) {
        for i in 0:64 {
            if x[i] < 0.0 { continue }
            out[i] = x[i] * 2.0
        }
    }
    kernel after(out: f64[N], x: f64[N]) {
        for i in 0:64 {
            if i + 1 < N { out[i] = x[i + 1] }
        }
    }"""
    m = turbo.compile(src, vectorize="i")
    x = np.linspace(-1.0, 1.0, 64)
    llvm = m.pos.inspect("llvm", np.zeros(64), x)
    assert "masked.store" in llvm and "masked.load" not in llvm, llvm
    check_m = turbo.compile(src, boundscheck=False, vectorize="i")
    assert "masked.load" in check_m.after.inspect("llvm", np.zeros(70), np.ones(70))
    for n in (64, 65, 70):
        out, xs = np.zeros(n), np.arange(n, dtype=np.float64)
        check_m.after(out, xs)
        np.testing.assert_array_equal(out[:64], [xs[i + 1] if i + 1 < n else 0.0 for i in range(64)])
    out = np.zeros(64)
    m.pos(out, x)
    np.testing.assert_array_equal(out, np.where(x < 0, 0.0, 2 * x))


def test_break_outside_a_loop_is_a_located_error():
    with pytest.raises(turbo.errors.DSLSemanticError, match="'break' outside a loop") as e:
        turbo.compile("kernel f(x: f64[N]) {\n    x[0] = 1.0\n    break\n}\n", "bad.loop")
    assert "line 3" in str(e.value) and "^" in str(e.value)
    with pytest.raises(turbo.errors.DSLSemanticError, match="'continue' outside a loop"):
        turbo.compile("kernel f(x: f64[N]) {\n    if x[0] > 0.0 { continue }\n}\n", "bad.loop")


def test_while_condition_must_be_a_boolean():
    with pytest.raises(turbo.errors.DSLTypeError, match="condition must be a boolean"):
        turbo.compile("kernel f(x: f64[N]) {\n    k = 3\n    while k { k -= 1 }\n}\n", "bad.loop")


def uses_then_breaks(x):
    total = 0.0
    for i in range(x.shape[0]):
        if x[i] > 0.0:
            break
        else:
            v = x[i]
        total += v
    return total


def uses_maybe_unassigned(x):
    total = 0.0
    for i in range(x.shape[0]):
        if x[i] > 0.0:
            v = x[i]
        total += v  # <- v may be unassigned
    return total


def test_definite_assignment_follows_break():
    check(uses_then_breaks, np.array([-1.0, -2.0, 3.0, -4.0]))
    with pytest.raises(turbo.errors.DSLSemanticError):
        jit(uses_maybe_unassigned)(np.ones(3))


def breaks_in_prange(x):
    for i in turbo.prange(x.shape[0]):
        if x[i] > 0.0:
            break
        x[i] = 1.0


def continues_in_prange(out, x):
    for i in turbo.prange(x.shape[0]):
        if x[i] < 0.0:
            continue
        k = 0
        v = x[i]
        while v > 1.0:
            v = v * 0.5
            k += 1
        out[i] = k


def test_parallel_loops_refuse_break_and_take_continue_and_while():
    with pytest.raises(turbo.errors.ScheduleError, match="break may end it early"):
        jit(breaks_in_prange)(np.ones(4))
    x = np.random.default_rng(2).uniform(-5, 1000, 3000)
    check(continues_in_prange, np.full(3000, -1, np.int64), x)


def test_pullbacks_refuse_while_loops_with_a_location():
    src = """
kernel f(y: f64[N], x: f64[N]) {
    for i in 0:N {
        v = x[i]
        while v > 1.0 { v = v * 0.5 }
        y[i] = v
    }
}
"""
    m = turbo.compile(src, "ad.loop")
    with pytest.raises(turbo.errors.DifferentiationError, match="while loop") as e:
        turbo.pullback(m.f, ("x",))
    assert "line 5" in str(e.value)


def test_math_in_a_while_condition():
    def newton_sqrt(out, x):
        for i in range(x.shape[0]):
            g = x[i]
            while abs(g * g - x[i]) > 1e-9 * x[i]:
                g = 0.5 * (g + x[i] / g)
            out[i] = g

    x = np.random.default_rng(1).uniform(0.5, 100.0, 37)
    out = np.zeros(37)
    jit(newton_sqrt)(out, x)
    np.testing.assert_allclose(out, np.sqrt(x), rtol=1e-9)
    assert math.isclose(interpret_sqrt(x[0]), math.sqrt(x[0]), rel_tol=1e-9)


def interpret_sqrt(v):
    m = turbo.compile("""
kernel s(x: f64) {
    g = x
    while abs(g * g - x) > 1e-12 * x { g = 0.5 * (g + x / g) }
    return g
}
""", "s.loop")
    return float(interpret(m.s.ir, v))


def leaky_ifelse(out, x):
    for i in range(x.shape[0]):
        if x[i] > 0.0:
            out[i] = x[i]
        else:
            out[i] = 0.01 * x[i]


def updates_in_both(out, x):
    for i in range(x.shape[0]):
        if x[i] > 0.5:
            out[i] += x[i]
        else:
            out[i] += 1.0


def where_differs(out, x):
    for i in range(x.shape[0]):
        k = i
        if x[i] > 0.0:
            k = 0  # the branches name different elements: stays as written
            out[k] += x[i]
        else:
            out[k] += 2.0


@pytest.mark.parametrize("n", [0, 1, 3, 4, 5, 8, 9, 17, 40])
def test_stores_both_branches_make_match_python(n):
    rng = np.random.default_rng(n)
    x = rng.uniform(-1.0, 1.0, n)
    for options in ({}, {"vectorize": "i"}, {"vectorize": "i", "unroll": {"i": 2}}):
        check(leaky_ifelse, np.zeros(n), x, fastmath=False, **options)
        check(clip_chain, np.zeros(n), x, -0.5, 0.5, fastmath=False, **options)
        check(updates_in_both, rng.uniform(0, 1, n), x, fastmath=False, **options)
    check(where_differs, np.zeros(n), x)


def test_the_store_both_branches_make_is_made_once_after_the_if():
    """Vectorized, a store in a branch is masked to its lanes (several plain
    stores' cost on AVX2): one store after the if, of a local each branch sets."""
    from turbo.passes.sink import sink_branch_stores

    cases = ((leaky_ifelse, (np.zeros(64), np.ones(64)), "out", 1),
             (clip_chain, (np.zeros(64), np.ones(64), 0.0, 1.0), "y", 1),
             (where_differs, (np.zeros(64), np.ones(64)), "out", 2))
    for fn, args, array, stores in cases:
        f = jit(fn)
        f(*args)
        text = str(sink_branch_stores(f.kernels[0].ir))
        assert text.count(f"{array}[") == stores, text
        if fn is clip_chain:  # the elif's store first, then the outer if's
            assert "y.v1 = lo" in text and "y.v0 = hi" in text and "y.v1 = y.v0" in text, text
            assert "y[i] = y.v1" in text, text
    m = turbo.compile("""
    kernel leaky(out: f64[64], x: f64[64]) {
        for i in 0:64 {
            if x[i] > 0.0 { out[i] = x[i] } else { out[i] = 0.01 * x[i] }
        }
    }""", vectorize="i")
    assert "masked.store" not in m.leaky.inspect("llvm", np.zeros(64), np.ones(64))


def bit_counts(out, x):
    for i in range(x.shape[0]):
        v = x[i]
        c = 0
        while v != 0:
            v &= v - 1
            c += 1
        out[i] = c


def test_a_while_loop_counting_set_bits_runs_as_written():
    """LLVM makes the loop one popcnt instruction as written; in lanes it would run
    as many iterations as the largest count of each vector."""
    x = np.random.default_rng(0).integers(-(1 << 40), 1 << 40, 100)
    out = np.zeros(100, np.int64)
    f = jit(bit_counts)
    f(out, x)
    np.testing.assert_array_equal(out, [bin(int(v) & (2**64 - 1)).count("1") for v in x])
    text = f.explain(out, x)
    assert "chosen: loops as written" in text and "counts set bits" in text, text
