"""SIMD math: exp, log, tanh, sigmoid, sin, cos, pow and the rest of the language's
functions (log2 log10 log1p exp2 expm1 sinh cosh tan atan asin acos erf atan2 hypot) on whole
vectors, written by turbo.

Each routine is emitted inline on LLVM vectors (any width, f32 or f64) from the
operations the vector units have: multiply-adds, rounding, integer shifts on the
bit patterns, selects. No lane leaves the registers. Special values follow C99 /
NumPy: exp(nan) = nan, exp(±inf) = inf / 0, log(0) = -inf, log(x < 0) = nan,
log(inf) = inf, tanh(±inf) = ±1, sin(-0) = -0, sin/cos(±inf) = nan, pow as C99's
Annex F (pow(x, 0) = 1 and pow(1, y) = 1 even for nan, signed zeros and infinities
by the parity of y, nan for a negative x and a non-integer y), subnormal inputs and
results handled.

Maximum errors, measured against NumPy over wide ranges and the edge values by
``tests/test_simdmath.py`` (which fails above these bounds):

    exp      f32 <= 1 ulp    f64 <= 1 ulp      (measured 0.86, 0.84)
    log      f32 <= 1 ulp    f64 <= 1.5 ulp    (0.87, 1.18)
    tanh     f32 <= 2 ulp    f64 <= 2 ulp      (1.46, 1.53)
    sigmoid  f32 <= 3 ulp    f64 <= 3 ulp      (2.32, 2.11)
    sin      f32 <= 1 ulp    f64 <= 1 ulp      (0.50, 0.73)
    cos      f32 <= 1 ulp    f64 <= 1 ulp      (0.50, 0.73)
    pow      f32 <= 1 ulp    f64 <= 1.5 ulp    (0.50, 1.04)
    log2     f32 <= 1 ulp    f64 <= 1.5 ulp    (0.50, 0.50)
    log10    f32 <= 1 ulp    f64 <= 2 ulp      (0.50, 1.54)
    log1p    f32 <= 1 ulp    f64 <= 1.5 ulp    (0.50, 1.14)
    exp2     f32 <= 1 ulp    f64 <= 1 ulp      (0.58, 0.87)
    expm1    f32 <= 1 ulp    f64 <= 1.5 ulp    (0.51, 1.33)
    sinh     f32 <= 1 ulp    f64 <= 2 ulp      (0.50, 1.69)
    cosh     f32 <= 1 ulp    f64 <= 1.5 ulp    (0.50, 1.11)
    tan      f32 <= 1 ulp    f64 <= 2 ulp      (0.79, 1.93)
    atan     f32 <= 1 ulp    f64 <= 1 ulp      (0.50, 0.96)
    erf      f32 <= 1 ulp    f64 <= 1.5 ulp    (0.52, 1.36)
    atan2    f32 <= 1 ulp    f64 <= 1 ulp      (0.50, 0.98)
    hypot    f32 <= 1 ulp    f64 <= 1.5 ulp    (0.50, 1.18)
    asin     f32 <= 1 ulp    f64 <= 1.5 ulp    (0.50, 1.00)
    acos     f32 <= 1 ulp    f64 <= 1.5 ulp    (0.50, 0.96)

Methods: exp reduces x = k·ln2 + r with ln2 split in two (Cody–Waite), evaluates
the Taylor polynomial of e^r on |r| <= ln2/2 (degree 7 for f32, 13 for f64) and
scales by 2^k in two steps so subnormal results round once. log splits x = 2^e·m
with m in [√2/2, √2), and with s = (m-1)/(m+1) uses log m = f - s·(f - R(s²))
(the fdlibm form, f = m - 1). tanh uses its Taylor series (coefficients from the
Bernoulli numbers) below |x| = 0.55 and 1 - 2/(e^{2|x|} + 1) above. sigmoid is
1 / (1 + e) for x >= 0 and e / (1 + e) below, e = e^{-|x|}, so tiny results keep
their precision instead of overflowing e^{-x}.

sin and cos reduce x = k·π/2 + r with π/2 in three doubles and fused
multiply-adds (r is exact to about 2^-100 for |x| <= 2^30, carried as a double-double
for f64), then take ±sin r or ±cos r by k mod 4 from Taylor polynomials on |r| < 0.8.
Lanes above 2^30 in magnitude (and ±inf) take the C library's value, in a branch
that runs only when a vector has such a lane. pow is e^(y·log|x|): for f64 the log
is a double-double (the division s = f/(2 + f) carried with its remainder and the
s³ term summed exactly), the product y·log|x| too, and e^ adds the low part to its
reduced argument; then the signs and special cases are selected. f32 sin, cos and
pow run on f64 lanes and round once, which is why they are correctly rounded in
nearly every case. Literal integer powers (x ** 2, x ** 3, pow(x, 4), x ** -1) are
multiplied out instead (``analysis.small_power``).

The others are written for f64 lanes; f32 vectors run them on widened lanes and
round once (``WIDENED``), with polynomials cut to the degree f32 needs. log2 of f64
is pow's double-double log times log2(e); log10 and log1p reuse log's split
x = 2^e·m (log1p on u = 1 + x with the rounding error of u added as c/u); exp2 is 2^k·e^(r·ln2) with r = x - rint(x) exact; expm1 is
(2^k - 1) + 2^k·(e^r - 1) with k = trunc(x/ln2), so both terms have the result's sign
and nothing cancels; sinh below 1 is its Taylor series, above it (E + E/(E + 1))/2 with
E = expm1|x|, cosh (e + 1/e)/2, both e^|x|/2 = e^(|x| - ln2) above 22; tan is sin/cos
of one reduction. atan reduces |x| > 1 by 1/x and then around 0, π/8 or π/4, carrying
the division's remainder and the sum c + atan t in two doubles; atan2 takes atan of
min/max of |x| and |y| (with the quotient's remainder) and places it in its octant,
with C99's values at signed zeros and infinities; asin and acos are atan of
a/y or y/a, y = sqrt((1 - a)(1 + a)), a = |x|, the same way (f64 results carry y's
and the ratio's low parts; 1/a and 1/y come from one division). hypot is max·(1 + w),
w = q²/(1 + sqrt(1 + q²)), q = min/max (f32: sqrt(x² + y²) on f64 lanes, exact
there); erf is x·(2/√π)·P(x²) by its Taylor series below 1 and 1 - e^(-x²)·Q(x)
above, Q = erfc·e^(x²) a polynomial on [1, 6] (from its Chebyshev series:
tools/erf_coefficients.py) and e^(-x²) with x² carried exactly.

Polynomials of high degree use Estrin's scheme above their two lowest terms
(``_Math.poly``), and integral f64 lanes are converted to integers through a magic
constant: AVX2 has no vector f64 <-> i64 conversion.
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache

from llvmlite import ir as ll

from llvmlite.ir import instructions as ll_instructions

from ..ir import DType
from .cpu import LIBM_ONLY, const_like


def call(cg, fn: str, t: DType, args):
    b = cg.b
    lt = args[0].type
    if fn in ("sin", "cos"):
        return sincos(cg, fn, t, args[0])
    if fn == "pow":
        if t is DType.F64:
            return _Math(cg, lt, t).pow(*args)
        # the magnitude on f64 lanes (rounded once), the signs and special cases on the f32 ones
        wide = _Math.widened(cg, lt)
        magnitude = wide.pow_magnitude(*(b.fpext(a, wide.lt) for a in args))
        return _Math(cg, lt, t).pow(*args, r=b.fptrunc(magnitude, lt))
    m = _Math(cg, lt, t)
    if fn == "exp":
        return m.exp(args[0])
    if fn == "log":
        return m.log(args[0])
    if fn == "tanh":
        return m.tanh(args[0])
    if fn == "sigmoid":
        # e = e^-|x|: 1 / (1 + e) for x >= 0, e / (1 + e) below (no overflow of e^-x)
        x = args[0]
        e = m.exp(b.fneg(b.call(cg.intrinsic("fabs", lt), [x])))
        pos = b.fdiv(m.c(1.0), b.fadd(m.c(1.0), e))
        return b.select(b.fcmp_ordered("<", x, m.c(0.0)), b.fmul(e, pos), pos)
    if fn in WIDENED:
        if t is DType.F64:
            return getattr(m, fn)(*args)
        # f32: on f64 lanes, rounded once
        wide = _Math.widened(cg, lt)
        y = getattr(wide, fn)(*(b.fpext(a, wide.lt) for a in args))
        if fn == "tan":
            return beyond_reduction(cg, "tan", t, args[0], b.fptrunc(y, lt))
        return b.fptrunc(y, lt)
    raise TypeError(f"unknown function {fn}")


# routines written for f64 lanes, which f32 vectors run on widened lanes (and round once)
WIDENED = ("log2", "log10", "log1p", "exp2", "expm1", "sinh", "cosh", "tan", "atan", "atan2", "hypot", "erf",
           "asin", "acos")


def beyond_reduction(cg, fn: str, t: DType, x, y):
    """``y`` with the lanes beyond SINCOS_LIMIT (and ±inf) replaced by the C
    library's ``fn`` (sin, cos, tan: the functions of the π/2 reduction)."""
    b = cg.b
    huge = b.fcmp_ordered(">", b.call(cg.intrinsic("fabs", x.type), [x]), const_like(x.type, SINCOS_LIMIT[t]))
    return libm_lanes(cg, fn, x, huge, y)


def sincos(cg, fn: str, t: DType, x):
    """sin or cos of a vector: turbo's routine for |x| <= SINCOS_LIMIT (on f64
    lanes, rounded once, for f32), the C library's for the lanes beyond it and
    ±inf, in a branch that runs only when some lane needs it."""
    b = cg.b
    lt = x.type
    if t is DType.F32:
        wide = _Math.widened(cg, lt)
        y = b.fptrunc(wide.sincos(b.fpext(x, wide.lt), fn == "cos"), lt)
    else:
        y = _Math(cg, lt, t).sincos(x, fn == "cos")
    return beyond_reduction(cg, fn, t, x, y)


def libm_lanes(cg, fn: str, x, which, y):
    """``y`` with the lanes where ``which`` holds replaced by the C library's
    ``fn`` of the same lane of ``x``; the calls sit in a block entered only when
    some lane needs them."""
    b = cg.b
    lt = x.type
    count = lt.count
    any_lane = b.call(cg.declare(f"llvm.vector.reduce.or.v{count}i1", ll.IntType(1), [which.type]), [which])
    any_lane = freeze(b, any_lane)  # a lane of an unused local may be undefined
    before = b.block
    slow = cg.fn.append_basic_block(f"{fn}_libm")
    done = cg.fn.append_basic_block(f"{fn}_libm_end")
    b.cbranch(any_lane, slow, done)
    b.position_at_end(slow)
    scalar = cg.libm(fn, lt.element) if fn in LIBM_ONLY else cg.intrinsic(fn, lt.element)
    lanes = y
    for k in range(count):
        i = ll.Constant(ll.IntType(32), k)
        lanes = b.insert_element(lanes, b.call(scalar, [b.extract_element(x, i)]), i)
    merged = b.select(which, lanes, y)
    b.branch(done)
    b.position_at_end(done)
    out = b.phi(lt)
    out.add_incoming(y, before)
    out.add_incoming(merged, slow)
    return out


def freeze(b, v):
    """LLVM's ``freeze``: a fixed, arbitrary value in place of undef or poison
    (llvmlite's builder has no method for it)."""
    inst = ll_instructions.Instruction(b.block, v.type, "freeze", [v])
    b._insert(inst)
    return inst


# π to 100 digits, for the splits of π/2 below
PI = Fraction(31415926535897932384626433832795028841971693993751058209749445923078164062862089986280348253421170679,
              10**100)


def split(value: Fraction, parts: int) -> tuple[float, ...]:
    """``value`` as a sum of doubles, each the rounding of what is left."""
    out = []
    for _ in range(parts):
        out.append(float(value))
        value -= Fraction(out[-1])
    return tuple(out)


# π/2 in three doubles (159 bits): with fused multiply-adds the reduction
# x - k·π/2 keeps the precision of the result for every |k| below 2^30
HALF_PI = split(PI / 2, 3)
# beyond these arguments (and at ±inf) sin and cos take the C library's value
SINCOS_LIMIT = {DType.F32: 2.0**30, DType.F64: 2.0**30}


LN2 = Fraction(69314718055994530941723212145817656807550013436025525412068000949339362196969471560586332699641868754,
               10**101)

# ln 2 as a 42-bit head (e·head exact for every f64 exponent e) and a tail
LN2_EXACT_HEAD = (float(Fraction(round(LN2 * 2**42), 2**42)), float(LN2 - Fraction(round(LN2 * 2**42), 2**42)))
TWO_THIRDS = split(Fraction(2, 3), 2)

# ln 2 split in a head with trailing zero bits (k * head is exact) and a tail
LN2_SPLIT = {DType.F32: (0.693145751953125, 1.428606765330187e-06),
             DType.F64: (0.6931471803691238, 1.9082149292705877e-10)}


def exact_head(value: Fraction, bits: int = 42) -> tuple[float, float]:
    """``value`` as a head of ``bits`` significant bits (its product with any
    f64 exponent, or small integer, is exact) and a tail."""
    scale = 2 ** (bits - 1 - math.floor(math.log2(value)))
    head = Fraction(round(value * scale), scale)
    return float(head), float(value - head)


LN10 = Fraction(23025850929940456840179914546843642076011014886287729760333279009675726096773524802359972050895982983,
                10**100)
LOG2_E = split(1 / LN2, 2)  # log2(x) = log(x)·log2(e)
LOG10_E = split(1 / LN10, 2)
LOG10_2_HEAD = exact_head(LN2 / LN10)
HALF_PI2 = split(PI / 2, 2)
PI2 = split(PI, 2)
# atan's reduction: atan a = c + atan((a - tan c) / (1 + a·tan c)), c = 0, π/8 or π/4,
# chosen by a against tan(π/16) and tan(3π/16), leaves |t| <= tan(π/16) ~ 0.199
ATAN_CENTERS = (split(PI / 8, 2), split(PI / 4, 2))
TAN_PI_8 = 0.41421356237309503  # √2 - 1, rounded
ATAN_BREAKS = (0.19891236737965800, 0.66817863791929893)  # tan(π/16), tan(3π/16)


# erf: 2/√π in two parts, and Q(x) = erfc(x)·e^(x²) on [1, 6] as a polynomial in
# u = (2x - 7)/5, per precision (from its Chebyshev series: tools/erf_coefficients.py)
TWO_OVER_SQRT_PI = split(Fraction(2) / Fraction(
    17724538509055160272981674833411451827975494561223871282138077898529112845910321813749506567385446654,
    10**100), 2)
ERFC_SCALED = {
    DType.F64: (
        0.1552936556088943,
        -0.10330894458313124,
        0.06663208245319109,
        -0.04176678811943095,
        0.0254955596437064,
        -0.01518251154565966,
        0.00883342391639231,
        -0.005028067967896857,
        0.0028033261864894706,
        -0.0015325157195868503,
        0.0008222552565141488,
        -0.0004333616469641549,
        0.00022452993059700351,
        -0.00011444274581909268,
        5.742080518440341e-05,
        -2.8375421033603888e-05,
        1.38206733448045e-05,
        -6.644171891044074e-06,
        3.1473331910963984e-06,
        -1.4583791026934757e-06,
        6.740620690712834e-07,
        -3.263444005599658e-07,
        1.4614480520522422e-07,
        -4.5551021827612916e-08,
        2.0766620450808687e-08,
        -2.313380406055404e-08,
        9.597458511055547e-09,
        2.6635869107568587e-09,
        -1.0099480876298564e-09,
        -1.5114786449782725e-09,
        6.096624968614332e-10,
    ),
    DType.F32: (
        0.15529365567990305,
        -0.10330893965923515,
        0.06663207109449817,
        -0.04176702084817398,
        0.025495857826472682,
        -0.015179316718329203,
        0.008830423123164287,
        -0.005047636309907224,
        0.0028183576619154856,
        -0.001469582260637263,
        0.0007803838080916431,
        -0.000546219217969124,
        0.0002918556264043445,
        -3.0800233376880436e-06,
        -3.499053493504844e-06,
        -8.170881241895019e-05,
        4.09661316773681e-05,
    ),
}
ERF_ONE = {DType.F64: 6.0, DType.F32: 4.0}  # erf rounds to ±1 beyond


@lru_cache(maxsize=None)
def tanh_coefficients(n: int) -> tuple[float, ...]:
    """tanh x = sum_k a_k x^(2k-1): a_k = 2^2k (2^2k - 1) B_2k / (2k)!."""
    # Bernoulli numbers B_0..B_2n by the Akiyama–Tanigawa algorithm
    bern = []
    a = [Fraction(0)] * (2 * n + 2)
    for m in range(2 * n + 1):
        a[m] = Fraction(1, m + 1)
        for j in range(m, 0, -1):
            a[j - 1] = j * (a[j - 1] - a[j])
        bern.append(a[0])  # B_m (with B_1 = +1/2)
    out = []
    fact = 1
    for k in range(1, n + 1):
        fact = 1
        for q in range(2, 2 * k + 1):
            fact *= q
        out.append(float(Fraction(4**k * (4**k - 1)) * bern[2 * k] / fact))
    return tuple(out)


class _Math:
    def __init__(self, cg, lt, t: DType, result: DType | None = None):
        self.cg = cg
        self.result = result or t  # the precision the caller rounds to
        self.b = cg.b
        self.lt = lt
        self.t = t
        self.f32 = t is DType.F32
        count = lt.count if isinstance(lt, ll.VectorType) else None
        self.it = ll.IntType(32 if self.f32 else 64)
        self.ivt = ll.VectorType(self.it, count) if count else self.it
        self.mbits = 23 if self.f32 else 52
        self.bias = 127 if self.f32 else 1023

    @classmethod
    def widened(cls, cg, lt):
        """f64 lanes, as many as ``lt`` has, for a result rounded to f32."""
        return cls(cg, ll.VectorType(ll.DoubleType(), lt.count), DType.F64, result=DType.F32)

    def c(self, v):
        return const_like(self.lt, v)

    def ci(self, v):
        return const_like(self.ivt, v)

    def fma(self, a, x, y):
        return self.b.call(self.cg.intrinsic("fmuladd", self.lt, 3), [a, x, y])

    def horner(self, coeffs, x):
        """coeffs[0] + coeffs[1] x + ... by Horner's rule."""
        acc = self.c(coeffs[-1])
        for k in reversed(coeffs[:-1]):
            acc = self.fma(acc, x, self.c(k))
        return acc

    # 1.5·2^52: adding it to an integral double below 2^51 in magnitude puts the
    # integer, two's complement, in the low bits of the sum
    MAGIC = 6755399441055744.0

    def to_int(self, k):
        """Integral float lanes to integers. f64 lanes go through MAGIC: AVX2 has no
        f64 <-> i64 vector conversion, which LLVM would run one lane at a time."""
        b = self.b
        if self.f32:
            return b.fptosi(k, self.ivt)
        magic = self.c(self.MAGIC)
        return b.sub(b.bitcast(b.fadd(k, magic), self.ivt), b.bitcast(magic, self.ivt))

    def to_float(self, e):
        """Integer lanes (below 2^51 in magnitude) to floats; see to_int."""
        b = self.b
        if self.f32:
            return b.sitofp(e, self.lt)
        magic = self.c(self.MAGIC)
        return b.fsub(b.bitcast(b.add(e, b.bitcast(magic, self.ivt)), self.lt), magic)

    def poly(self, coeffs, x, horner_low: int = 2):
        """coeffs[0] + coeffs[1] x + ...: the ``horner_low`` lowest terms by
        Horner's rule (they set the rounding of the result), the others by
        Estrin's scheme, which pairs terms by powers x², x⁴, ... so the chain of
        dependent multiply-adds is logarithmic in the degree instead of linear."""
        if len(coeffs) - horner_low < 4:
            return self.horner(coeffs, x)
        b = self.b
        level = [self.c(c) for c in coeffs[horner_low:]]
        power = x
        while len(level) > 1:
            if len(level) % 2:
                level.append(self.c(0.0))
            level = [self.fma(level[i + 1], power, level[i]) for i in range(0, len(level), 2)]
            if len(level) > 1:
                power = b.fmul(power, power)
        acc = level[0]
        for c in reversed(coeffs[:horner_low]):
            acc = self.fma(acc, x, self.c(c))
        return acc

    def pow2(self, k):
        """2^k as a float, for integer vectors k within the normal exponent range."""
        b = self.b
        bits = b.shl(b.add(k, self.ci(self.bias)), self.ci(self.mbits))
        return b.bitcast(bits, self.lt)

    def scale(self, p, k):
        """p·2^k in two steps of 2^(k/2): a subnormal result rounds once, and k
        may go past the normal exponent range (p·2^1024 with p < 1 is finite)."""
        b = self.b
        k1 = b.ashr(k, self.ci(1))
        return b.fmul(b.fmul(p, self.pow2(k1)), self.pow2(b.sub(k, k1)))

    def exp_reduced(self, x, degree: int, tail=None):
        """(p, k) with e^(x + tail) = p·2^k: x = k·ln2 + r (Cody–Waite, ln2 in two
        parts), p the Taylor polynomial of e^r of the given degree."""
        b = self.b
        ln2hi, ln2lo = LN2_SPLIT[self.t]
        k = b.call(self.cg.intrinsic("rint", self.lt), [b.fmul(x, self.c(1.4426950408889634))])
        r = self.fma(k, self.c(-ln2hi), x)
        r = self.fma(k, self.c(-ln2lo), r)
        if tail is not None:
            r = b.fadd(r, tail)
        p = self.poly([1.0 / math.factorial(q) for q in range(degree + 1)], r)
        return p, self.to_int(k)

    def exp(self, x, tail=None):
        """e^x; e^(x + tail) where a low part of the argument is given."""
        b = self.b
        if self.f32:
            hi, lo, degree = 88.72283935546875, -103.97208404541016, 7
        else:
            hi, lo, degree = 709.782712893384, -745.1332191019412, 13
        fcmp = b.fcmp_ordered
        xs = b.select(fcmp(">", x, self.c(hi)), self.c(hi), x)
        xs = b.select(fcmp("<", xs, self.c(lo)), self.c(lo), xs)
        p, ki = self.exp_reduced(xs, degree, tail)
        y = self.scale(p, ki)
        y = b.select(fcmp(">", x, self.c(hi)), self.c(float("inf")), y)
        y = b.select(fcmp("<", x, self.c(lo)), self.c(0.0), y)
        return b.select(b.fcmp_unordered("uno", x, x), x, y)

    def split_exponent(self, x, subnormal: bool = True):
        """(e, m) with x = 2^e·m and m in [√2/2, √2), for finite x > 0 (subnormal x
        scaled up first unless ``subnormal`` is False)."""
        b = self.b
        adj = None
        if subnormal:
            tiny = b.fcmp_ordered("<", x, self.c(2.0 ** (1 - self.bias)))
            x = b.select(tiny, b.fmul(x, self.c(2.0**self.mbits)), x)
            adj = b.select(tiny, self.ci(-self.mbits), self.ci(0))
        bits = b.bitcast(x, self.ivt)
        e = b.sub(b.lshr(bits, self.ci(self.mbits)), self.ci(self.bias))
        if adj is not None:
            e = b.add(e, adj)
        m = b.bitcast(b.or_(b.and_(bits, self.ci((1 << self.mbits) - 1)), self.ci(self.bias << self.mbits)), self.lt)
        big = b.fcmp_ordered(">", m, self.c(1.4142135623730951))
        m = b.select(big, b.fmul(m, self.c(0.5)), m)
        return b.select(big, b.add(e, self.ci(1)), e), m

    def log_mantissa(self, f, terms: int):
        """log(1 + f) for 1 + f in [√2/2, √2): with s = f/(2 + f),
        f - s·(f - R(s²)), R = 2z/3 + 2z²/5 + ... to ``terms`` terms."""
        b = self.b
        s = b.fdiv(f, b.fadd(f, self.c(2.0)))
        R = self.horner([0.0] + [2.0 / (2 * q + 1) for q in range(1, terms + 1)], b.fmul(s, s))
        return b.fsub(f, b.fmul(s, b.fsub(f, R)))

    def log(self, x):
        de, L = self.log_parts(x, 4 if self.f32 else 10)
        ln2hi, ln2lo = LN2_SPLIT[self.t]
        return self.log_cases(x, self.fma(de, self.c(ln2hi), self.fma(de, self.c(ln2lo), L)))

    def tanh(self, x):
        b = self.b
        ax = b.call(self.cg.intrinsic("fabs", self.lt), [x])
        small = b.fcmp_ordered("<", ax, self.c(0.55))
        coeffs = tanh_coefficients(9 if self.f32 else 19)
        x2 = b.fmul(x, x)
        ts = b.fmul(x, self.horner(list(coeffs), x2))
        e = self.exp(b.fmul(ax, self.c(2.0)))
        one = self.c(1.0)
        tb = b.fsub(one, b.fdiv(self.c(2.0), b.fadd(e, one)))
        tb = b.call(self.cg.intrinsic("copysign", self.lt, 2), [tb, x])
        return b.select(small, ts, tb)

    def fma_exact(self, a, x, y):
        """a·x + y rounded once (llvm.fma, never split into two roundings)."""
        return self.b.call(self.cg.intrinsic("fma", self.lt, 3), [a, x, y])

    def two_sum(self, a, c):
        """a + c as a rounded sum and its exact rounding error (Knuth's TwoSum)."""
        b = self.b
        s = b.fadd(a, c)
        cc = b.fsub(s, a)
        return s, b.fadd(b.fsub(a, b.fsub(s, cc)), b.fsub(c, cc))

    def fast_two_sum(self, a, c):
        """a + c rounded and its exact rounding error, for |a| >= |c| (Dekker)."""
        b = self.b
        s = b.fadd(a, c)
        return s, b.fsub(c, b.fsub(s, a))

    def sincos(self, x, cos: bool):
        """sin or cos of the lanes with |x| <= SINCOS_LIMIT (others: see libm_lanes).

        x = k·π/2 + r with |r| <= π/4, then ±sin r or ±cos r by the quadrant k mod 4
        (cos x = sin(x + π/2): quadrant k + 1). Taylor polynomials in r² on |r| < 0.8."""
        b = self.b
        fcmp = b.fcmp_ordered
        ax = b.call(self.cg.intrinsic("fabs", self.lt), [x])
        xs = b.select(fcmp("<=", ax, self.c(SINCOS_LIMIT[self.result])), x, self.c(0.0))
        k = b.call(self.cg.intrinsic("rint", self.lt), [b.fmul(xs, self.c(float(2 / PI)))])
        nk = b.fneg(k)
        r1 = self.fma_exact(nk, self.c(HALF_PI[0]), xs)  # exact: |r1| < 1 on a 2^-52 grid
        fact = [math.factorial(q) for q in range(20)]
        if self.result is DType.F32:
            # f64 lanes for an f32 result: r and the polynomials in plain doubles
            r = self.fma_exact(nk, self.c(HALF_PI[1]), r1)
            r = self.fma_exact(nk, self.c(HALF_PI[2]), r)
            s = b.fmul(r, r)
            sin_p = self.horner([(-1) ** (j + 1) / fact[2 * j + 3] for j in range(5)], s)
            sin_r = self.fma(b.fmul(r, s), sin_p, r)
            cos_r = self.horner([(-1) ** j / fact[2 * j] for j in range(6)], s)
        else:
            # r + r_lo = r1 - k·(π/2 - HALF_PI[0]) to ~2^-100: k·HALF_PI[1] split
            # exactly in two, the difference summed exactly, the rest in the low part
            p = b.fmul(k, self.c(HALF_PI[1]))
            p_err = self.fma_exact(k, self.c(HALF_PI[1]), b.fneg(p))
            t, t_err = self.two_sum(r1, b.fneg(p))
            low = b.fsub(t_err, self.fma_exact(k, self.c(HALF_PI[2]), p_err))
            r, r_lo = self.fast_two_sum(t, low)
            s = b.fmul(r, r)
            # sin(r + r_lo) = r + (r·s·P(s) + r_lo·(1 - s/2))
            sin_p = self.horner([(-1) ** (j + 1) / fact[2 * j + 3] for j in range(8)], s)
            corr = self.fma(b.fmul(r, s), sin_p, b.fmul(r_lo, self.fma(s, self.c(-0.5), self.c(1.0))))
            sin_r = b.fadd(r, corr)
            # cos(r + r_lo) = w + ((1 - w) - s/2 + s²·Q(s) - r·r_lo) with w = 1 - s/2
            # rounded and its rounding error recovered; s's own error enters as s_lo/2
            s_lo = self.fma_exact(r, r, b.fneg(s))
            half = b.fmul(s, self.c(0.5))
            w = b.fsub(self.c(1.0), half)
            w_err = b.fsub(b.fsub(self.c(1.0), w), half)
            cos_q = self.horner([(-1) ** j / fact[2 * j + 4] for j in range(7)], s)
            tail = b.fsub(w_err, self.fma(r, r_lo, b.fmul(s_lo, self.c(0.5))))
            cos_r = b.fadd(w, self.fma(b.fmul(s, s), cos_q, tail))
        q = self.to_int(k)
        if cos:
            q = b.add(q, self.ci(1))
        odd = b.icmp_signed("!=", b.and_(q, self.ci(1)), self.ci(0))
        y = b.select(odd, cos_r, sin_r)
        y = b.select(b.icmp_signed("!=", b.and_(q, self.ci(2)), self.ci(0)), b.fneg(y), y)
        if not cos:
            y = b.select(fcmp("==", x, self.c(0.0)), x, y)  # sin(-0) = -0
        return b.select(b.fcmp_unordered("uno", x, x), x, y)

    def log_dd(self, x):
        """log x as hi + lo (about 2^-64 relative), for finite x > 0.

        With x = 2^e·m, f = m - 1 and s = f/(2 + f) carried with its remainder,
        log m = 2s + 2s³/3 + 2s⁵/5 + ...; the first two terms are summed in
        double-double, the rest (below 2^-12 of the total) in plain doubles."""
        b = self.b
        e, m = self.split_exponent(x)
        two = self.c(2.0)
        f = b.fsub(m, self.c(1.0))  # exact
        u = b.fadd(f, two)
        u_lo = b.fsub(f, b.fsub(u, two))  # 2 + f = u + u_lo exactly
        s = b.fdiv(f, u)
        rem = b.fsub(self.fma_exact(b.fneg(s), u, f), b.fmul(s, u_lo))
        s_lo = b.fdiv(rem, u)  # s + s_lo = f / (2 + f) to ~2^-106
        z = b.fmul(s, s)
        z_lo = b.fadd(self.fma_exact(s, s, b.fneg(z)), b.fmul(b.fmul(two, s), s_lo))
        s3 = b.fmul(s, z)
        s3_lo = b.fadd(self.fma_exact(s, z, b.fneg(s3)), b.fadd(b.fmul(s, z_lo), b.fmul(s_lo, z)))
        c_hi, c_lo = TWO_THIRDS
        t1 = b.fmul(self.c(c_hi), s3)
        t1_lo = b.fadd(self.fma_exact(self.c(c_hi), s3, b.fneg(t1)),
                       b.fadd(b.fmul(self.c(c_hi), s3_lo), b.fmul(self.c(c_lo), s3)))
        rest = b.fmul(b.fmul(s3, z), self.horner([2.0 / (2 * q + 5) for q in range(10)], z))
        h = b.fmul(s, two)
        hi, lo = self.fast_two_sum(h, t1)  # |h| >= |t1|
        lo = b.fadd(lo, b.fadd(b.fmul(s_lo, two), b.fadd(t1_lo, rest)))
        # + e·ln2, ln2 in a head exact for every e and a tail
        ln2_hi, ln2_lo = LN2_EXACT_HEAD
        de = self.to_float(e)
        eh = b.fmul(de, self.c(ln2_hi))
        big_hi, err = self.two_sum(eh, hi)
        lo = b.fadd(err, b.fadd(lo, b.fmul(de, self.c(ln2_lo))))
        return self.fast_two_sum(big_hi, lo)

    def pow_magnitude(self, x, y):
        """e^(y·log|x|) for finite nonzero x. For f64 results log|x| and the
        product are double-double and e^ takes the low part."""
        b = self.b
        ax = b.call(self.cg.intrinsic("fabs", self.lt), [x])
        if self.result is DType.F32:
            return self.pow_f32_magnitude(ax, y)
        hi, lo = self.log_dd(ax)
        zh = b.fmul(y, hi)
        zl = b.fadd(self.fma_exact(y, hi, b.fneg(zh)), b.fmul(y, lo))
        return self.exp(zh, zl)

    def pow_f32_magnitude(self, ax, y):
        """e^(y·log ax) on f64 lanes holding f32 values, to 2^-32: the f64 range
        leaves out the subnormal and overflow cases of log and exp. Inputs: ax
        finite and nonzero; the result is rounded to f32 by the caller (overflow
        to inf, underflow to 0 there)."""
        b = self.b
        e, m = self.split_exponent(ax, subnormal=False)  # f32 values are normal f64s
        log_m = self.log_mantissa(b.fsub(m, self.c(1.0)), 6)
        t = b.fmul(y, self.fma(self.to_float(e), self.c(float(LN2)), log_m))
        # e^-110 is below half the smallest f32 subnormal, e^90 above the largest f32
        t = b.select(b.fcmp_ordered(">", t, self.c(90.0)), self.c(90.0), t)
        t = b.select(b.fcmp_ordered("<", t, self.c(-110.0)), self.c(-110.0), t)
        p, k = self.exp_reduced(t, 8)
        return b.fmul(p, self.pow2(k))

    def pow(self, x, y, r=None):
        """x^y: pow_magnitude (or ``r``, computed elsewhere) with C99's sign and
        special cases."""
        b = self.b
        fcmp = b.fcmp_ordered
        fabs = self.cg.intrinsic("fabs", self.lt)
        rint = self.cg.intrinsic("rint", self.lt)
        ax = b.call(fabs, [x])
        if r is None:
            r = self.pow_magnitude(x, y)
        zero, one, inf = self.c(0.0), self.c(1.0), self.c(float("inf"))
        y_int = fcmp("==", b.call(rint, [y]), y)
        half = b.fmul(y, self.c(0.5))
        y_odd = b.and_(y_int, fcmp("!=", b.call(rint, [half]), half))
        neg_x = b.icmp_signed("<", b.bitcast(x, self.ivt), self.ci(0))  # sign bit, -0 included
        flip = b.and_(neg_x, y_odd)
        r = b.select(flip, b.fneg(r), r)
        r = b.select(b.and_(fcmp("<", x, zero), b.not_(y_int)), self.c(float("nan")), r)
        # x = ±0 or ±inf: 0 or inf by whether x = 0 and y < 0 agree, signed by an odd y
        y_neg = fcmp("<", y, zero)
        mag = b.select(b.xor(fcmp("==", ax, zero), y_neg), zero, inf)
        edge = b.or_(fcmp("==", ax, zero), fcmp("==", ax, inf))
        r = b.select(edge, b.select(flip, b.fneg(mag), mag), r)
        # y = ±inf: 1 when |x| = 1, else 0 or inf by whether |x| < 1 and y < 0 agree
        mag = b.select(b.xor(fcmp("<", ax, one), y_neg), zero, inf)
        r = b.select(fcmp("==", b.call(fabs, [y]), inf), b.select(fcmp("==", ax, one), one, mag), r)
        r = b.select(b.fcmp_unordered("uno", x, y), self.c(float("nan")), r)
        return b.select(b.or_(fcmp("==", y, zero), fcmp("==", x, one)), one, r)

    # ------------------------------------------------------------------ f64 routines for the rest
    # (f32 vectors run these on widened lanes: ``self.result`` then says f32, and
    # the polynomials stop at the degree that precision needs)

    @property
    def wide(self) -> bool:
        """Whether the result keeps f64 precision (else an f32 result on f64 lanes)."""
        return self.result is DType.F64

    def abs(self, x):
        return self.b.call(self.cg.intrinsic("fabs", self.lt), [x])

    def copysign(self, x, y):
        return self.b.call(self.cg.intrinsic("copysign", self.lt, 2), [x, y])

    def nan_through(self, x, y):
        """``y``, except nan where ``x`` is nan."""
        return self.b.select(self.b.fcmp_unordered("uno", x, x), x, y)

    def log_parts(self, x, terms: int):
        """(e, L): log x = e·ln2 + L for finite x > 0, e the binary exponent as a
        float, L = log m by ``log_mantissa`` to ``terms`` terms."""
        e, m = self.split_exponent(x)
        return self.to_float(e), self.log_mantissa(self.b.fsub(m, self.c(1.0)), terms)

    def log_cases(self, x, y, zero=0.0):
        """log's special values around ``y``: -inf at x = ``zero``, nan below it, inf at inf."""
        b = self.b
        fcmp = b.fcmp_ordered
        y = b.select(fcmp("==", x, self.c(zero)), self.c(float("-inf")), y)
        y = b.select(fcmp("<", x, self.c(zero)), self.c(float("nan")), y)
        y = b.select(fcmp("==", x, self.c(float("inf"))), x, y)
        return self.nan_through(x, y)

    def log2(self, x):
        """f64: log x as a double-double (``log_dd``) times log2(e) in two parts,
        the head's product carried exactly; f32 results: e + L·log2(e). Both are
        exact at powers of two."""
        b = self.b
        if not self.wide:
            de, L = self.log_parts(x, 5)
            return self.log_cases(x, b.fadd(de, self.fma(L, self.c(LOG2_E[0]), b.fmul(L, self.c(LOG2_E[1])))))
        hi, lo = self.log_dd(x)
        p = b.fmul(hi, self.c(LOG2_E[0]))
        rest = self.fma(hi, self.c(LOG2_E[1]), self.fma(lo, self.c(LOG2_E[0]), self.fma_exact(hi, self.c(LOG2_E[0]), b.fneg(p))))
        return self.log_cases(x, b.fadd(p, rest))

    def log10(self, x):
        """e·log10(2) (a head exact in the product) + L·log10(e)."""
        b = self.b
        de, L = self.log_parts(x, 10 if self.wide else 5)
        low = self.fma(de, self.c(LOG10_2_HEAD[1]), self.fma(L, self.c(LOG10_E[0]), b.fmul(L, self.c(LOG10_E[1]))))
        return self.log_cases(x, self.fma(de, self.c(LOG10_2_HEAD[0]), low))

    def log1p(self, x):
        """u = 1 + x with its rounding error c (exact), then log u + c/u."""
        b = self.b
        u, c = self.two_sum(self.c(1.0), x)
        de, L = self.log_parts(u, 10 if self.wide else 5)
        ln2hi, ln2lo = LN2_EXACT_HEAD
        y = self.fma(de, self.c(ln2hi), self.fma(de, self.c(ln2lo), b.fadd(L, b.fdiv(c, u))))
        y = b.select(b.fcmp_ordered("==", x, self.c(0.0)), x, y)  # log1p(-0) = -0
        return self.log_cases(x, y, zero=-1.0)

    def exp2(self, x):
        """2^x = 2^k·e^(r·ln2), k = rint(x), r = x - k exact."""
        b = self.b
        fcmp = b.fcmp_ordered
        hi, lo = 1024.0, -1080.0
        xs = b.select(fcmp(">", x, self.c(hi)), self.c(hi), x)
        xs = b.select(fcmp("<", xs, self.c(lo)), self.c(lo), xs)
        k = b.call(self.cg.intrinsic("rint", self.lt), [xs])
        r = b.fsub(xs, k)
        t = self.fma(r, self.c(float(LN2)), b.fmul(r, self.c(float(LN2 - Fraction(float(LN2))))))
        p = self.poly([1.0 / math.factorial(q) for q in range(14 if self.wide else 8)], t)
        y = self.scale(p, self.to_int(k))
        y = b.select(fcmp(">=", x, self.c(hi)), self.c(float("inf")), y)
        return self.nan_through(x, y)

    def expm1(self, x):
        """e^x - 1 = (2^k - 1) + 2^k·q with k = trunc(x/ln2), q = e^r - 1 by its
        Taylor polynomial, r = x - k·ln2 of x's sign: both terms have the sign of
        the result, so nothing cancels. e^x beyond 40, -1 below -40."""
        b = self.b
        fcmp = b.fcmp_ordered
        xs = b.select(fcmp(">", x, self.c(40.0)), self.c(40.0), x)
        xs = b.select(fcmp("<", xs, self.c(-40.0)), self.c(-40.0), xs)
        ln2hi, ln2lo = LN2_SPLIT[self.t]
        k = b.call(self.cg.intrinsic("trunc", self.lt), [b.fmul(xs, self.c(1.4426950408889634))])
        r = self.fma(k, self.c(-ln2hi), xs)
        r = self.fma(k, self.c(-ln2lo), r)
        # r + r²·P(r): one rounding of a term near r
        P = self.poly([1.0 / math.factorial(n) for n in range(2, 18 if self.wide else 11)], r)
        q = self.fma(b.fmul(r, r), P, r)
        two = self.pow2(self.to_int(k))
        y = self.fma(two, q, b.fsub(two, self.c(1.0)))
        y = b.select(fcmp(">", x, self.c(40.0)), self.exp(x), y)
        y = b.select(fcmp("<", x, self.c(-40.0)), self.c(-1.0), y)
        y = b.select(fcmp("==", x, self.c(0.0)), x, y)  # expm1(-0) = -0
        return self.nan_through(x, y)

    def half_exp(self, a):
        """e^a / 2 = e^(a - ln2) for a >= 1, ln2 subtracted in an exact head and a
        tail that e^ adds to its reduced argument: overflows only where the result does."""
        head, tail = LN2_EXACT_HEAD
        return self.exp(self.b.fsub(a, self.c(head)), tail=self.c(-tail))

    def sinh(self, x):
        """Below 1: x times the Taylor polynomial in x². Above: (E + E/(E + 1))/2
        with E = e^|x| - 1, and e^|x|/2 above 22; the sign of x."""
        b = self.b
        fcmp = b.fcmp_ordered
        a = self.abs(x)
        z = b.fmul(x, x)
        terms = 10 if self.wide else 6
        small = self.fma(b.fmul(x, z), self.poly([1.0 / math.factorial(2 * k + 3) for k in range(terms - 1)], z), x)
        E = self.expm1(b.select(fcmp(">", a, self.c(22.0)), self.c(22.0), a))
        y = b.fmul(self.c(0.5), b.fadd(E, b.fdiv(E, b.fadd(E, self.c(1.0)))))
        y = self.copysign(b.select(fcmp(">", a, self.c(22.0)), self.half_exp(a), y), x)
        return self.nan_through(x, b.select(fcmp("<", a, self.c(1.0)), small, y))

    def cosh(self, x):
        """(e + 1/e)/2, e = e^|x|; e^|x|/2 above 22."""
        b = self.b
        a = self.abs(x)
        e = self.exp(b.select(b.fcmp_ordered(">", a, self.c(22.0)), self.c(22.0), a))
        y = self.fma(e, self.c(0.5), b.fdiv(self.c(0.5), e))
        y = b.select(b.fcmp_ordered(">", a, self.c(22.0)), self.half_exp(a), y)
        return self.nan_through(x, y)

    def tan(self, x):
        """sin x / cos x from one reduction (LLVM merges the two); lanes beyond
        SINCOS_LIMIT take the C library's tan (``beyond_reduction``, by the caller for f32)."""
        y = self.b.fdiv(self.sincos(x, False), self.sincos(x, True))
        if self.wide:
            return beyond_reduction(self.cg, "tan", DType.F64, x, y)
        return y

    def atan_reduced(self, a, a_lo=None):
        """atan a for a in [0, 1], as a pair (hi, lo): c + atan t with
        t = (a - tan c)/(1 + a·tan c), |t| <= tan(π/16), atan t by its Taylor
        series. The division's remainder and c + t are carried exactly, since the
        result can be half of c; ``a_lo``: a low part of the argument."""
        b = self.b
        fcmp = b.fcmp_ordered
        mid = fcmp(">", a, self.c(ATAN_BREAKS[0]))
        top = fcmp(">", a, self.c(ATAN_BREAKS[1]))
        zero = self.c(0.0)
        tc = b.select(top, self.c(1.0), b.select(mid, self.c(TAN_PI_8), zero))
        c_hi = b.select(top, self.c(ATAN_CENTERS[1][0]), b.select(mid, self.c(ATAN_CENTERS[0][0]), zero))
        c_lo = b.select(top, self.c(ATAN_CENTERS[1][1]), b.select(mid, self.c(ATAN_CENTERS[0][1]), zero))
        num = b.fsub(a, tc)  # exact where c = π/8 or π/4 (Sterbenz), a itself where c = 0
        p = b.fmul(a, tc)
        den, den_lo = self.two_sum(self.c(1.0), p)
        den_lo = b.fadd(den_lo, self.fma_exact(a, tc, b.fneg(p)))  # 1 + a·tc = den + den_lo
        inv = b.fdiv(self.c(1.0), den)  # one division: t within an ulp or two, t_lo its correction
        t = b.fmul(num, inv)
        rem = b.fsub(self.fma_exact(b.fneg(t), den, num), b.fmul(t, den_lo))
        if a_lo is not None:
            rem = b.fadd(rem, a_lo)
        t_lo = b.fmul(rem, inv)
        z = b.fmul(t, t)
        terms = 11 if self.wide else 6
        q = self.poly([(-1.0) ** k / (2 * k + 1) for k in range(1, terms)], z)
        hi, err = self.two_sum(c_hi, t)
        return hi, b.fadd(self.fma(b.fmul(t, z), q, t_lo), b.fadd(c_lo, err))

    def minus(self, const: tuple[float, float], hi, lo):
        """const - (hi + lo), const a pair of doubles, as a pair."""
        s, err = self.two_sum(self.c(const[0]), self.b.fneg(hi))
        return s, self.b.fadd(err, self.b.fsub(self.c(const[1]), lo))

    def atan(self, x):
        b = self.b
        a = self.abs(x)
        inv = b.fcmp_ordered(">", a, self.c(1.0))
        hi, lo = self.atan_reduced(b.select(inv, b.fdiv(self.c(1.0), a), a))
        ihi, ilo = self.minus(HALF_PI2, hi, lo)
        r = b.select(inv, b.fadd(ihi, ilo), b.fadd(hi, lo))
        return self.nan_through(x, self.copysign(r, x))

    def atan2(self, y, x):
        """atan of min(|x|, |y|)/max(|x|, |y|), then π/2 - r, π - r and y's sign by
        the octant; C99's values at zeros and infinities (atan2(±0, -0) = ±π, ...)."""
        b = self.b
        fcmp = b.fcmp_ordered
        ax, ay = self.abs(x), self.abs(y)
        swap = fcmp(">", ay, ax)
        num, den = b.select(swap, ax, ay), b.select(swap, ay, ax)
        q = b.fdiv(num, den)
        q = b.select(fcmp("==", den, self.c(0.0)), self.c(0.0), q)  # both zero
        q_lo = b.fdiv(self.fma_exact(b.fneg(q), den, num), den)  # the quotient's remainder
        finite = b.and_(fcmp("!=", den, self.c(0.0)), fcmp("!=", den, self.c(float("inf"))))
        q_lo = b.select(b.and_(finite, fcmp("==", q_lo, q_lo)), q_lo, self.c(0.0))
        q = b.select(fcmp("==", num, self.c(float("inf"))), self.c(1.0), q)  # both infinite
        hi, lo = self.atan_reduced(q, q_lo if self.wide else None)
        shi, slo = self.minus(HALF_PI2, hi, lo)
        hi, lo = b.select(swap, shi, hi), b.select(swap, slo, lo)
        neg_x = b.icmp_signed("<", b.bitcast(x, self.ivt), self.ci(0))  # sign bit, -0 included
        nhi, nlo = self.minus(PI2, hi, lo)
        r = b.select(neg_x, b.fadd(nhi, nlo), b.fadd(hi, lo))
        r = self.copysign(r, y)
        return b.select(b.fcmp_unordered("uno", x, y), self.c(float("nan")), r)

    def asin_acos(self, x, acos: bool):
        """asin x = atan(a / y) and acos x = atan(y / a) for a = |x|,
        y = sqrt((1 - a)(1 + a)) (a² + y² = 1), the ratio taken the way it is at
        most 1 (else π/2 - atan of its inverse), as atan2 does; y and the ratio
        carry low parts (1 ∓ a by TwoSum, their product by an exact fma, the
        square root's remainder), so that a ratio near 1 loses nothing to the
        rounding of y. 1/a and 1/y both come from one division, 1/(a·y) (the
        ratio's remainder corrects the rounding that adds). Then asin takes x's
        sign, and acos of x < 0 is π - acos |x|; |x| below 2^-28 gives x and
        π/2 - x, |x| = 1 ±π/2, 0 and π; nan outside [-1, 1]."""
        b = self.b
        fcmp = b.fcmp_ordered
        one, zero = self.c(1.0), self.c(0.0)
        a = self.abs(x)
        tiny = fcmp("<", a, self.c(2.0 ** -28))
        end = fcmp("==", a, one)
        a_ = b.select(b.or_(tiny, end), self.c(0.5), a)  # a value whose reciprocals are finite
        if self.wide:
            q, q_lo, swap = self.asin_ratio(a_, acos)
        else:  # an f32 result: f64 lanes carry 29 bits to spare, no low parts needed
            y = b.call(self.cg.intrinsic("sqrt", self.lt), [b.fmul(b.fsub(one, a_), b.fadd(one, a_))])
            num, den = (y, a_) if acos else (a_, y)
            swap = fcmp(">", num, den)
            q, q_lo = b.fdiv(b.select(swap, den, num), b.select(swap, num, den)), None
        hi, lo = self.atan_reduced(q, q_lo)
        shi, slo = self.minus(HALF_PI2, hi, lo)
        hi, lo = b.select(swap, shi, hi), b.select(swap, slo, lo)
        if acos:
            hi = b.select(tiny, self.c(HALF_PI2[0]), b.select(end, zero, hi))
            lo = b.select(tiny, b.fsub(self.c(HALF_PI2[1]), a), b.select(end, zero, lo))
            neg = fcmp("<", x, zero)
            nhi, nlo = self.minus(PI2, hi, lo)
            r = b.select(neg, b.fadd(nhi, nlo), b.fadd(hi, lo))
        else:
            r = b.select(end, self.c(HALF_PI2[0]), b.fadd(hi, lo))
            r = self.copysign(b.select(tiny, a, r), x)
        return b.select(fcmp("<=", a, one), r, self.c(float("nan")))  # nan beyond 1, and for nan

    def asin_ratio(self, a, acos: bool):
        """(q, its low part, swap) for ``asin_acos`` on f64 results: q = a/y (asin)
        or y/a (acos), inverted where above 1 (swap), y = sqrt((1 - a)(1 + a))
        with its low part, 1/a and 1/y from the one division 1/(a·y)."""
        b = self.b
        fcmp = b.fcmp_ordered
        one, zero = self.c(1.0), self.c(0.0)
        s1, e1 = self.two_sum(one, b.fneg(a))
        s2, e2 = self.two_sum(one, a)
        d = b.fmul(s1, s2)
        d_lo = b.fadd(self.fma_exact(s1, s2, b.fneg(d)), b.fadd(b.fmul(s1, e2), b.fmul(e1, s2)))
        y = b.call(self.cg.intrinsic("sqrt", self.lt), [d])
        inv = b.fdiv(one, b.fmul(a, y))
        inv_a, inv_y = b.fmul(y, inv), b.fmul(a, inv)
        y_lo = b.fmul(b.fadd(self.fma_exact(b.fneg(y), y, d), d_lo), b.fmul(self.c(0.5), inv_y))
        if acos:
            num, num_lo, den, den_lo, inv_den = y, y_lo, a, zero, inv_a
            swap = fcmp(">", y, a)
            alt = (a, zero, y, y_lo, inv_y)
        else:
            num, num_lo, den, den_lo, inv_den = a, zero, y, y_lo, inv_y
            swap = fcmp(">", a, y)
            alt = (y, y_lo, a, zero, inv_a)
        num, num_lo, den, den_lo, inv_den = (b.select(swap, p, q) for p, q in zip(alt, (num, num_lo, den, den_lo, inv_den)))
        q = b.fmul(num, inv_den)
        q_lo = b.fmul(b.fsub(b.fadd(self.fma_exact(b.fneg(q), den, num), num_lo), b.fmul(q, den_lo)), inv_den)
        return q, q_lo, swap

    def asin(self, x):
        return self.asin_acos(x, False)

    def acos(self, x):
        return self.asin_acos(x, True)

    def hypot(self, x, y):
        """max·sqrt(1 + (min/max)²) (f32 results: sqrt(x² + y²), exact on
        f64 lanes); inf if either is infinite, even with a nan."""
        b = self.b
        fcmp = b.fcmp_ordered
        ax, ay = self.abs(x), self.abs(y)
        sqrt = self.cg.intrinsic("sqrt", self.lt)
        if self.wide:
            big = fcmp(">", ay, ax)
            mx, mn = b.select(big, ay, ax), b.select(big, ax, ay)
            # mx·sqrt(1 + q²) as mx + mx·w, w = q²/(1 + sqrt(1 + q²)): one rounding at the end
            q = b.fdiv(mn, mx)
            q2 = b.fmul(q, q)
            w = b.fdiv(q2, b.fadd(self.c(1.0), b.call(sqrt, [b.fadd(self.c(1.0), q2)])))
            r = self.fma(mx, w, mx)
            r = b.select(fcmp("==", mx, self.c(0.0)), self.c(0.0), r)
        else:
            r = b.call(sqrt, [self.fma(x, x, b.fmul(y, y))])
        r = b.select(b.fcmp_unordered("uno", x, y), self.c(float("nan")), r)
        inf = self.c(float("inf"))
        return b.select(b.or_(fcmp("==", ax, inf), fcmp("==", ay, inf)), inf, r)

    def erf(self, x):
        """Below 1: x·(2/√π)·(1 - x²/3 + ...), its Taylor series. From 1 to 6 (4 for
        f32): 1 - e^(-x²)·Q(x), Q = erfc·e^(x²) a polynomial fitted on [1, 6], e^(-x²)
        with x² carried exactly. ±1 beyond; the sign of x."""
        b = self.b
        fcmp = b.fcmp_ordered
        a = self.abs(x)
        z = b.fmul(x, x)
        terms = 18 if self.wide else 11
        rest = self.poly([(-1.0) ** n / (math.factorial(n) * (2 * n + 1)) * TWO_OVER_SQRT_PI[0]
                          for n in range(1, terms)], z)
        small = self.fma(x, self.c(TWO_OVER_SQRT_PI[0]), b.fmul(x, self.fma(z, rest, self.c(TWO_OVER_SQRT_PI[1]))))
        top = ERF_ONE[self.result]
        ac = b.select(fcmp(">", a, self.c(top)), self.c(top), a)
        ac = b.select(fcmp("<", ac, self.c(1.0)), self.c(1.0), ac)
        u = self.fma(ac, self.c(0.4), self.c(-1.4))
        q = self.poly(list(ERFC_SCALED[self.result]), u)
        s = b.fmul(ac, ac)
        s_lo = self.fma_exact(ac, ac, b.fneg(s))
        e = self.exp(b.fneg(s), tail=b.fneg(s_lo))
        big = self.copysign(self.fma(b.fneg(e), q, self.c(1.0)), x)
        y = b.select(fcmp("<", a, self.c(1.0)), small, big)
        y = b.select(fcmp(">=", a, self.c(top)), self.copysign(self.c(1.0), x), y)
        return self.nan_through(x, y)
