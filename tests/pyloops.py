"""A corpus of plain Python loop functions: the oracle of tests/test_frontend.py.

Nothing here is decorated except the helpers that other functions call (calls to
@turbo functions are inlined); the tests wrap each function with ``turbo(f)`` and
compare with ``f`` itself on copies of the same inputs.
"""

import math

import numpy as np

from turbo import turbo

ALPHA = 0.75
NBINS = 8
F32_ONE = np.float32(1.0)

# ----------------------------------------------------------------------------- BLAS 1


def axpy(y, a, x):
    for i in range(len(y)):
        y[i] += a * x[i]


def scal(x, a):
    for i in range(x.shape[0]):
        x[i] *= a


def dot(x, y):
    s = 0.0
    for i in range(x.shape[0]):
        s += x[i] * y[i]
    return s


def selfdot(x):
    s = 0.0
    for i in range(x.shape[0]):
        s += x[i] * x[i]
    return s


def asum(x):
    s = 0.0
    for i in range(len(x)):
        s += abs(x[i])
    return s


def nrm2(x):
    s = 0.0
    for i in range(len(x)):
        s += x[i] ** 2
    return math.sqrt(s)


def iamax(x):
    best = 0
    for i in range(1, len(x)):
        if abs(x[i]) > abs(x[best]):
            best = i
    return best


def swap(x, y):
    for i in range(len(x)):
        t = x[i]
        x[i] = y[i]
        y[i] = t


def rot(x, y, c, s):
    for i in range(len(x)):
        a, b = x[i], y[i]
        x[i] = c * a + s * b
        y[i] = c * b - s * a


# ----------------------------------------------------------------------------- BLAS 2


def gemv(y, A, x):
    for i in range(A.shape[0]):
        acc = 0.0
        for j in range(A.shape[1]):
            acc += A[i, j] * x[j]
        y[i] = acc


def gemv_t(y, A, x):
    for j in range(A.shape[1]):
        y[j] = 0.0
    for i in range(A.shape[0]):
        for j in range(A.shape[1]):
            y[j] += A[i, j] * x[i]


def ger(A, x, y, alpha):
    m, n = A.shape
    for i in range(m):
        for j in range(n):
            A[i][j] += alpha * x[i] * y[j]


def dot3(x, A, y):
    s = 0.0
    for i in range(len(x)):
        t = 0.0
        for j in range(len(y)):
            t += A[i, j] * y[j]
        s += x[i] * t
    return s


def trmv_lower(y, L, x):
    n = len(x)
    for i in range(n):
        acc = 0.0
        for j in range(i + 1):
            acc += L[i, j] * x[j]
        y[i] = acc


# ----------------------------------------------------------------------------- BLAS 3


def gemm(C, A, B):
    for m in range(A.shape[0]):
        for n in range(B.shape[1]):
            acc = 0.0
            for k in range(A.shape[1]):
                acc += A[m, k] * B[k, n]
            C[m, n] = acc


def gemm_tn(C, A, B):  # C = A^T B
    for m in range(A.shape[1]):
        for n in range(B.shape[1]):
            acc = 0.0
            for k in range(A.shape[0]):
                acc += A[k, m] * B[k, n]
            C[m, n] = acc


def gemm_nt(C, A, B):  # C = A B^T
    for m in range(A.shape[0]):
        for n in range(B.shape[0]):
            acc = 0.0
            for k in range(A.shape[1]):
                acc += A[m, k] * B[n, k]
            C[m, n] = acc


def gemm_tt(C, A, B):  # C = A^T B^T
    for m in range(A.shape[1]):
        for n in range(B.shape[0]):
            acc = 0.0
            for k in range(A.shape[0]):
                acc += A[k, m] * B[n, k]
            C[m, n] = acc


def gemm_update(C, A, B, alpha, beta):  # C = alpha A B + beta C, k-inner-most order
    M, N = C.shape
    for i in range(M):
        for j in range(N):
            C[i, j] *= beta
        for k in range(A.shape[1]):
            a = alpha * A[i, k]
            for j in range(N):
                C[i, j] += a * B[k, j]


def syrk_lower(C, A):  # lower triangle of A A^T
    n = A.shape[0]
    for i in range(n):
        for j in range(i + 1):
            acc = 0.0
            for k in range(A.shape[1]):
                acc += A[i, k] * A[j, k]
            C[i, j] = acc


# ----------------------------------------------------------------------------- stencils


def blur1d(y, x):
    for i in range(1, len(x) - 1):
        y[i] = (x[i - 1] + x[i] + x[i + 1]) / 3


def laplacian(out, u):
    for i in range(1, u.shape[0] - 1):
        for j in range(1, u.shape[1] - 1):
            out[i, j] = u[i - 1, j] + u[i + 1, j] + u[i, j - 1] + u[i, j + 1] - 4 * u[i, j]


def filter2d(out, img, kernel):
    kh, kw = kernel.shape
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            acc = 0.0
            for di in range(kh):
                for dj in range(kw):
                    acc += img[i + di, j + dj] * kernel[di, dj]
            out[i, j] = acc


def wrap_ends(y, x):  # negative literal indices count from the end, as in Python
    y[0] = x[-1]
    y[-1] = x[0]


# ----------------------------------------------------------------------------- reductions


def total(x):
    s = 0
    for i in range(x.size):
        s += x[i]
    return s


def mean2d(A):
    s = 0.0
    for i in range(A.shape[0]):
        for j in range(A.shape[1]):
            s += A[i, j]
    return s / A.size


def maxval(x):
    m = -math.inf
    for i in range(len(x)):
        m = max(m, x[i])
    return m


def minval(x):
    m = float("inf")
    for i in range(len(x)):
        if x[i] < m:
            m = x[i]
    return m


def count_positive(x):
    c = 0
    for i in range(len(x)):
        if x[i] > 0:
            c += 1
    return c


def all_finite(x):
    ok = True
    for i in range(len(x)):
        ok = ok and math.isfinite(x[i])
    return ok


def argmax(x):
    k = 0
    for i in range(len(x)):
        if x[i] > x[k]:
            k = i
    return k


def logsumexp(x):
    m = -np.inf
    for i in range(len(x)):
        m = max(m, x[i])
    s = 0.0
    for i in range(len(x)):
        s += np.exp(x[i] - m)
    return m + np.log(s)


def variance(x):
    n = len(x)
    mu = 0.0
    for i in range(n):
        mu += x[i]
    mu /= n
    v = 0.0
    for i in range(n):
        d = x[i] - mu
        v += d * d
    return v / (n - 1)


def sum_f64(x):  # mixed precision: f32 data, f64 accumulator
    acc = np.float64(0.0)
    for i in range(len(x)):
        acc += x[i]
    return acc


# ----------------------------------------------------------------------------- triangular


def forward_subst(x, L, b):
    n = len(b)
    for i in range(n):
        s = b[i]
        for j in range(i):
            s -= L[i, j] * x[j]
        x[i] = s / L[i, i]


def back_subst(x, U, b):
    n = len(b)
    for i in range(n - 1, -1, -1):
        s = b[i]
        for j in range(i + 1, n):
            s -= U[i, j] * x[j]
        x[i] = s / U[i, i]


def cholesky(A):  # in place, lower triangle
    n = A.shape[0]
    for j in range(n):
        d = A[j, j]
        for k in range(j):
            d -= A[j, k] * A[j, k]
        d = math.sqrt(d)
        A[j, j] = d
        for i in range(j + 1, n):
            s = A[i, j]
            for k in range(j):
                s -= A[i, k] * A[j, k]
            A[i, j] = s / d


def cumsum(y, x):
    acc = 0.0
    for i in range(len(x)):
        acc += x[i]
        y[i] = acc


def scan_inplace(x):
    for i in range(1, len(x)):
        x[i] += x[i - 1]


def every_other_reversed(y, x):
    for i in range(len(x) - 1, -1, -2):
        y[i] = 2 * x[i]


# ----------------------------------------------------------------------------- conditionals


def relu(y, x):
    for i in range(len(x)):
        y[i] = x[i] if x[i] > 0 else 0.0


def clamp(y, x, lo, hi):
    for i in range(len(x)):
        v = x[i]
        if v < lo:
            y[i] = lo
        elif v > hi:
            y[i] = hi
        else:
            y[i] = v


def sign(y, x):
    for i in range(len(x)):
        if x[i] > 0:
            y[i] = 1
        elif x[i] < 0:
            y[i] = -1
        else:
            y[i] = 0


def histogram(counts, x):
    nb = len(counts)
    for i in range(len(x)):
        b = math.floor(x[i] * nb)
        if 0 <= b < nb:
            counts[b] += 1


def leaky_clip(y, x):
    for i in range(len(x)):
        v = np.clip(x[i], -1.0, 1.0)
        y[i] = np.where(v > 0, v, 0.01 * v)


def masked_sum(x, m):
    s = 0.0
    for i in range(len(x)):
        if m[i] and not (x[i] < -1 or x[i] > 1):
            s += x[i]
    return s


# ----------------------------------------------------------------------------- integers


def int_poly(y, x):
    for i in range(len(x)):
        v = x[i]
        y[i] = 3 * v * v - 7 * v + 1


def int_divmod(q, r, x, d):
    for i in range(len(x)):
        q[i] = x[i] // d
        r[i] = x[i] % d


def int_matmul(C, A, B):
    for i in range(A.shape[0]):
        for j in range(B.shape[1]):
            s = 0
            for k in range(A.shape[1]):
                s += A[i, k] * B[k, j]
            C[i, j] = s


def digit_sum(x):
    total = 0
    for i in range(len(x)):
        v = abs(x[i])
        for _ in range(10):
            total += v % 10
            v //= 10
    return total


# ----------------------------------------------------------------------------- math and casts


def softplus(y, x):
    for i in range(len(x)):
        y[i] = np.log(1 + np.exp(-abs(x[i]))) + max(x[i], 0)


def sigmoid_math(y, x):
    for i in range(len(x)):
        y[i] = 1 / (1 + math.exp(-x[i]))


def trig(y, x):
    for i in range(len(x)):
        y[i] = np.sin(x[i]) * np.cos(x[i]) + np.tanh(x[i]) - math.sqrt(abs(x[i]))


def quantize(q, x, scale):
    for i in range(len(x)):
        q[i] = int(x[i] * scale)


def to_f32(y, x):
    for i in range(len(x)):
        y[i] = np.float32(x[i]) * F32_ONE


def powers(y, x):
    for i in range(len(x)):
        y[i] = abs(x[i]) ** 1.5 + pow(x[i], 2) + math.pow(abs(x[i]), 0.5) + math.log(abs(x[i]) + 2, 2)


def specials(out, x, y):
    for i in range(len(x)):
        out[i] = np.maximum(x[i], y[i]) + np.minimum(y[i], x[i])
    nans = 0
    infs = 0
    for i in range(len(x)):
        if np.isnan(x[i]):
            nans += 1
        if math.isinf(x[i]) or np.isinf(y[i]):
            infs += 1
    return nans * 1000 + infs


# ----------------------------------------------------------------------------- Python forms


def scaled_by_global(y, x):
    for i in range(len(x)):
        y[i] = ALPHA * x[i] + math.pi


def chained_compare_and_minmax(y, x):
    for i in range(len(x)):
        v = x[i]
        y[i] = min(v, 0.5, abs(v)) if -1 < v <= 1 else max(v, -v, 2.0)


def aug_ops(y, x):
    for i in range(len(x)):
        v: float = x[i]
        v **= 2
        v //= 0.25
        v %= 3.0
        w = v
        w -= 1
        w /= 2
        y[i] = w


def swap_pairs(y, x):
    a, b = 0.0, 1.0
    for i in range(len(x)):
        a, b = b, a + x[i]
        y[i] = a


def reassigned_param(x, n):
    n = min(n, len(x))
    for i in range(n):
        x[i] = n


def shape_props(out, A):
    out[0] = A.ndim
    out[1] = A.size
    out[2] = len(A)
    out[3] = A.shape[-1]


def fib_like(x):
    a = b = 1
    for i in range(len(x)):
        x[i] = a
        a, b = b, a + b


def docstring_and_pass(y):
    """A docstring is not a statement of the kernel."""
    for i in range(len(y)):
        pass
        y[i] = i


# ----------------------------------------------------------------------------- calls (inlined)


@turbo
def sq(v):
    return v * v


@turbo
def row_sumsq(A, i):
    s = 0.0
    for j in range(A.shape[1]):
        s += sq(A[i, j])
    return s


@turbo
def fill(y, v):
    for i in range(len(y)):
        y[i] = v


def row_norms(out, A):
    for i in range(A.shape[0]):
        out[i] = math.sqrt(row_sumsq(A, i))


def fill_then_add(y, x):
    fill(y, 1.5)
    for i in range(len(x)):
        y[i] += sq(x[i]) + sq(2.0)


def make_scaler(c):
    def scale(y, x):
        for i in range(len(x)):
            y[i] = c * x[i]

    return scale


def folded_constants(out, x):
    # expressions of integer literals take Python's exact value: their parts need
    # not fit in 64 bits (an FNV-1a hash's offset basis, i64's extremes)
    for i in range(x.shape[0]):
        h = 14695981039346656037 - 2**64
        for j in range(x.shape[1]):
            h = (h ^ x[i, j]) * 1099511628211
        out[i, 0] = h
        out[i, 1] = -9223372036854775808 + x[i, 0]
        out[i, 2] = 2**63 - 1 - x[i, 0]
        out[i, 3] = (2**63 * 2) // 4 + (-7) // 2 + (-7) % 3 + (~5 << 2) + (1 << 62 >> 60)


# early returns (frontend.py ``_early_returns``): a linear search, a test of every
# element, a search through rows, a return before any loop, and a procedure that stops


def index_of(x, v):
    for i in range(len(x)):
        if x[i] == v:
            return i
    return -1


def all_finite_early(x):
    for i in range(len(x)):
        if not math.isfinite(x[i]):
            return False
    return True


def first_in_rows(A, t):
    for i in range(A.shape[0]):
        for j in range(A.shape[1]):
            if A[i, j] > t:
                return i * A.shape[1] + j
    return -1


def mean_or_zero(x):
    n = len(x)
    if n == 0:
        return 0.0
    s = 0.0
    for i in range(n):
        s += x[i]
    return s / n


def first_value_or_total(x, t):
    s = 0.0
    k = 0
    while k < len(x):
        if x[k] > t:
            return x[k]
        s += x[k]
        k += 1
    return s


def copy_until_negative(out, x):
    for i in range(len(x)):
        if x[i] < 0:
            return
        out[i] = 2.0 * x[i]
