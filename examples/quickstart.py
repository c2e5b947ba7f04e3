"""Quick start: define an operator, schedule it, build it, call it on NumPy arrays.

    python examples/quickstart.py

The README's quick start, runnable (tests/frameworks/test_examples.py runs it).
"""
import numpy as np

import opcomp as oc

# Define: the sum of squares of each row of A; n is symbolic, so one build serves every n.
n = oc.var("n")
A = oc.placeholder((n, 64), name="A")
k = oc.reduce_axis(64, "k")
B = oc.compute((n,), lambda i: oc.sum(A[i, k] * A[i, k], axis=k), name="B")

# Schedule: rows in blocks of 16, the blocks in parallel.
s = oc.create_schedule(B)
io, ii = s[B].split(B.op.axis[0], factor=16)
s[B].parallel(io)
print(oc.lower(s, [A, B], name="rowsumsq"))          # the loop nest

# Build and call: outputs are arguments, written in place.
mod = oc.build(s, [A, B], target="llvm", name="rowsumsq")
for rows in (1000, 37):
    a = np.random.default_rng(0).standard_normal((rows, 64)).astype(np.float32)
    b = np.empty(rows, np.float32)
    mod(a, b)
    want = (a.astype(np.float64) ** 2).sum(axis=1)
    assert np.allclose(b, want, rtol=1e-5), "wrong result"
print(f"rowsumsq ok; {oc.benchmark(mod, a, b)}")
