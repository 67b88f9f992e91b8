"""Random and mutated source text: the only exception ever raised is a TurboError."""

import pathlib

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import turbo

SEEDS = [p.read_text() for p in sorted((pathlib.Path(__file__).parent / "golden").glob("*.loop"))]
TOKENS = ["kernel", "for", "in", "if", "else", "elif", "and", "or", "not", "{", "}", "(", ")", "[", "]", ":", ",",
          "=", "+=", "-=", "*=", "/=", "==", "<", ">=", "+", "-", "*", "/", "//", "%", "**", "&", "|", "^", "<<", ">>", "~", "\n", ";", "#",
          "0", "1", "2.5", "1e400", "x", "y", "N", "f32", "f64", "i32", "i64", "bool", "exp", "min", "True", " "]
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def _compile_and_maybe_run(src: str) -> None:
    try:
        mod = turbo.compile(src, "fuzz.loop")
    except turbo.TurboError:
        return
    # whatever compiles must also run (or raise a TurboError) on small arrays
    for k in mod.kernels.values():
        args = []
        for p in k.ir.params:
            if hasattr(p, "shape"):
                shape = tuple(d if isinstance(d, int) else 3 for d in p.shape)
                args.append(np.ones(shape, dtype=p.dtype.numpy_name))
            else:
                args.append(True if p.dtype.value == "bool" else (1.0 if p.dtype.is_float else 1))
        try:
            k(*args)
        except turbo.TurboError:
            pass


@FUZZ
@given(st.text(max_size=200))
def test_random_text(src):
    _compile_and_maybe_run(src)


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=60))
def test_random_token_soup(tokens):
    _compile_and_maybe_run(" ".join(tokens))


@FUZZ
@given(st.sampled_from(SEEDS), st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 8), st.sampled_from(TOKENS)), min_size=1, max_size=4))
def test_mutated_programs(seed, edits):
    src = seed
    for pos, cut, tok in edits:
        pos %= len(src) + 1
        src = src[:pos] + tok + src[pos + cut:]
    _compile_and_maybe_run(src)
