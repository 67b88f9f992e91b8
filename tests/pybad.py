"""Functions turbo must refuse: each marks the line the error must point at with
``# <- error``. Plain (undecorated): the tests decorate them and check the error."""

import math

import numpy as np

from turbo import turbo


def uses_while_else(x):
    i = 0
    while i < len(x):
        x[i] = i
        i += 1
    else:
        x[0] = 1.0  # <- error


def uses_list(x):
    vals = [1.0, 2.0]  # <- error
    x[0] = vals[0]


def uses_dict(x):
    d = {"a": 1}  # <- error
    x[0] = d["a"]


def uses_string(x):
    name = "abc"  # <- error  # noqa: F841
    x[0] = 1.0


def uses_try(x):
    try:  # <- error
        x[0] = 1.0
    except IndexError:
        pass


def uses_with(x):
    with np.errstate(all="ignore"):  # <- error
        x[0] = 1.0


def uses_comprehension(x):
    s = sum(x[i] for i in range(len(x)))  # <- error
    return s


def uses_lambda(x):
    f = lambda v: v + 1  # <- error  # noqa: E731
    x[0] = f(x[0])


def uses_generator(x):
    for i in range(len(x)):
        yield x[i]  # <- error


def uses_nested_def(x):
    def helper(v):  # <- error
        return v

    x[0] = helper(1.0)


def uses_slice(x):
    for i in range(len(x)):
        x[i] = x[0:2]  # <- error


def uses_attribute(x):
    x[0] = x.dtype  # <- error


def uses_transpose(A, B):
    for i in range(A.shape[0]):
        B[i, 0] = A.T[0, i]  # <- error


def uses_python_call(x):
    x[0] = helper_plain(x[1])  # <- error


def helper_plain(v):
    return v + 1


def uses_print(x):
    print(x[0])  # <- error


def float_bitwise(x):
    x[0] = x[1] & 3  # <- error


def uses_is(x):
    if x[0] is None:  # <- error
        x[0] = 1.0


def uses_iteration_over_array(x):
    s = 0.0
    for v in x:  # <- error
        s += v
    return s


def uses_enumerate(x):
    for i, v in enumerate(x):  # <- error
        x[i] = v


def uses_for_else(x):
    for i in range(len(x)):
        x[i] = 0.0
    else:
        x[0] = 1.0  # <- error


def value_or_nothing(x):
    for i in range(len(x)):
        if x[i] < 0:
            return i
    return  # <- error


def returns_inside_only(x):
    for i in range(len(x)):
        if x[i] < 0:
            return i  # <- error


def returns_tuple(x):
    return x[0], x[1]  # <- error


def uses_global_array(x):
    x[0] = TABLE[0]  # <- error


TABLE = np.ones(3)


def uses_star_args(*xs):  # <- error
    pass


def uses_default(x, a=1.0):  # <- error
    x[0] = a


def uses_raise(x):
    if x[0] < 0:
        raise ValueError("negative")  # <- error


def uses_assert(x):
    assert x[0] > 0  # <- error


def uses_walrus(x):
    if (n := len(x)) > 2:  # <- error
        x[0] = n


def uses_matmul(A, B, C):
    C[0, 0] = (A @ B)[0, 0]  # <- error


def uses_expression_statement(x):
    x[0]  # <- error


def uses_fstring(x):
    s = f"{x[0]}"  # <- error  # noqa: F841


@turbo
def uses_recursion(x, n):
    s = 0.0
    if n > 0:
        s = x[n] + uses_recursion(x, n - 1)  # <- error
    return s


# errors found when a signature is translated (the first call)


def bool_arith(x):
    for i in range(len(x)):
        x[i] = x[i] + (x[i] > 0)  # <- error


def undefined_name(x):
    x[0] = undefined_thing  # <- error  # noqa: F821


def float_index(x):
    for i in range(len(x)):
        x[i / 2] = 1.0  # <- error


def partial_index(A):
    A[0] = 1.0  # <- error


def maybe_unassigned(x):
    for i in range(len(x)):
        t = x[i]
    x[0] = t  # <- error


def float_range(x):
    for i in range(len(x) / 2):  # <- error
        x[i] = 1.0


def unknown_math(x):
    x[0] = math.gamma(x[1])  # <- error
