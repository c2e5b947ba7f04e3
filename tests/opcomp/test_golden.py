"""Golden text: the printed loop nest of canonical schedules is pinned.

Run `python -m pytest tests/opcomp/test_golden.py --update-golden` to rewrite
the files after an intended change, then read the diff.
"""
from pathlib import Path

import pytest

import opcomp as oc

GOLDEN = Path(__file__).parent / "golden"


def vector_add_split():
    A = oc.placeholder((100,), name="A")
    B = oc.placeholder((100,), name="B")
    C = oc.compute((100,), lambda i: A[i] + B[i], name="C")
    s = oc.create_schedule(C)
    xo, xi = s[C].split(C.op.axis[0], factor=16)
    s[C].parallel(xo)
    s[C].vectorize(xi)
    return s, [A, B, C]


def matmul_tiled():
    A = oc.placeholder((64, 32), name="A")
    B = oc.placeholder((32, 48), name="B")
    k = oc.reduce_axis(32, "k")
    C = oc.compute((64, 48), lambda i, j: oc.sum(A[i, k] * B[k, j], axis=k), name="C")
    s = oc.create_schedule(C)
    CC = s.cache_write(C, "local")
    io, jo, ii, ji = s[C].tile(C.op.axis[0], C.op.axis[1], 8, 16)
    s[CC].compute_at(s[C], jo)
    ic, jc = s[CC].op.axis
    (kc,) = s[CC].op.reduce_axis
    s[CC].reorder(kc, ic, jc)
    s[CC].vectorize(jc)
    s[C].vectorize(ji)
    return s, [A, B, C]


def symbolic_rowsum():
    n = oc.var("n")
    A = oc.placeholder((n, 8), name="A")
    k = oc.reduce_axis(8, "k")
    C = oc.compute((n,), lambda i: oc.sum(A[i, k], axis=k), name="C")
    s = oc.create_schedule(C)
    s[C].split(C.op.axis[0], factor=4)
    return s, [A, C]


def inline_chain():
    A = oc.placeholder((10, 10), name="A")
    T = oc.compute((10, 10), lambda i, j: A[i, j] * 2.0, name="T")
    C = oc.compute((10, 10), lambda i, j: oc.exp(T[j, i]), name="C")
    s = oc.create_schedule(C)
    s[T].compute_inline()
    return s, [A, C]


CASES = [vector_add_split, matmul_tiled, symbolic_rowsum, inline_chain]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__)
def test_loop_nest_golden(case, update_golden):
    s, args = case()
    text = str(oc.lower(s, args, name=case.__name__)) + "\n"
    path = GOLDEN / f"{case.__name__}.txt"
    if update_golden:
        path.write_text(text)
    assert path.exists(), f"no golden file {path.name}; run with --update-golden"
    assert text == path.read_text()
