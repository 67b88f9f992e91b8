"""Prints the polynomials of Q(x) = erfc(x)·e^(x²) on [1, 6], in u = (2x - 7)/5,
that turbo's SIMD erf uses (ERFC_SCALED in turbo/codegen/simdmath.py).

Chebyshev interpolation at 31 nodes, in 50-digit arithmetic (mpmath, a dev
dependency), then the series converted to powers of u: all 31 terms for f64
(about 4e-16 relative, evaluated in doubles), the first 17 for f32 (2e-9). The
powers are well conditioned here (no coefficient above 0.16), so the SIMD code
evaluates them by Estrin's scheme instead of Clenshaw's serial recurrence."""

import mpmath as mp

mp.mp.dps = 50
LO, HI, TERMS = 1, 6, 31


def scaled_erfc(x):
    return mp.erfc(x) * mp.exp(x * x)


def main() -> None:
    n = TERMS
    nodes = [mp.cos(mp.pi * (k + mp.mpf(1) / 2) / n) for k in range(n)]
    values = [scaled_erfc(mp.mpf(HI - LO) / 2 * u + mp.mpf(LO + HI) / 2) for u in nodes]
    coeffs = []
    for j in range(n):
        s = sum(v * mp.cos(mp.pi * j * (k + mp.mpf(1) / 2) / n) for k, v in enumerate(values))
        coeffs.append(s * 2 / n / (2 if j == 0 else 1))
    cheb = [[1], [0, 1]]  # T_j in powers of u
    while len(cheb) < n:
        a = [0] + [2 * c for c in cheb[-1]]
        cheb.append([x - y for x, y in zip(a, cheb[-2] + [0] * 2)])
    print("ERFC_SCALED = {")
    for name, terms in (("DType.F64", n), ("DType.F32", 17)):
        powers = [mp.mpf(0)] * terms
        for j in range(terms):
            for k, t in enumerate(cheb[j]):
                powers[k] += coeffs[j] * t
        print(f"    {name}: (")
        for c in powers:
            print(f"        {float(c)!r},")
        print("    ),")
    print("}")


if __name__ == "__main__":
    main()
