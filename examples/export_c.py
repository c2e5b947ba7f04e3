"""Export a kernel as a shared library and a C header, for C and C++ programs.

    python examples/export_c.py OUTDIR      # writes OUTDIR/librowsumsq.so and librowsumsq.h

Then examples/c/main.c (plain C) and examples/cmake/ (a CMake project) use them:

    cc examples/c/main.c -I OUTDIR -L OUTDIR -lrowsumsq -Wl,-rpath,OUTDIR -lm -o rowsumsq
    cmake -S examples/cmake -B build -DOPCOMP_KERNEL_DIR=OUTDIR && cmake --build build
"""
import sys
from pathlib import Path

import opcomp as oc

out = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
out.mkdir(parents=True, exist_ok=True)
n = oc.var("n")
A = oc.placeholder((n, 64), name="A")
k = oc.reduce_axis(64, "k")
B = oc.compute((n,), lambda i: oc.sum(A[i, k] * A[i, k], axis=k), name="B")
s = oc.create_schedule(B)
io, ii = s[B].split(B.op.axis[0], factor=16)
s[B].parallel(io)
mod = oc.build(s, [A, B], name="rowsumsq")
lib = mod.export_library(out / "librowsumsq.so")
print(f"wrote {lib} and {out / 'librowsumsq.h'}")
