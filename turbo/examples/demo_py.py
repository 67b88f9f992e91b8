"""Python loop functions that `turbo demo` compiles with @turbo."""

import math

from turbo import turbo


@turbo
def logsumexp(x):
    m = -math.inf
    for i in range(len(x)):
        m = max(m, x[i])
    s = 0.0
    for i in range(len(x)):
        s += math.exp(x[i] - m)
    return m + math.log(s)


@turbo
def pairwise_dist(D, X):
    n, d = X.shape
    for i in range(n):
        for j in range(i):  # triangular: each pair once
            acc = 0.0
            for k in range(d):
                diff = X[i, k] - X[j, k]
                acc += diff * diff
            D[i, j] = math.sqrt(acc)
            D[j, i] = D[i, j]
        D[i, i] = 0.0
