"""Vector math (codegen/llvm_math.py): throughput against NumPy, and measured accuracy.

    python -m bench.bench_math              # GB/s on 16M float32 / 8M float64, one thread each
    python -m bench.bench_math --accuracy   # max error in ulp against mpmath, random inputs

Throughput counts bytes read plus bytes written.  The kernel is a plain loop
over <16 x float> / <8 x double> chunks calling emit_math, JIT-compiled at O3
for the host CPU; NumPy's ufuncs are single-threaded too.
"""
from __future__ import annotations

import ctypes
import sys

import numpy as np
from llvmlite import ir

from bench.common import fair_environment, row, time_calls

N32 = 1 << 24
LANES = {np.float32: 16, np.float64: 8}


def _np_sigmoid(x, out):
    np.exp(-x, out=out)
    np.add(1.0, out, out=out)
    return np.divide(1.0, out, out=out)


NUMPY = {"exp": np.exp, "log": np.log, "tanh": np.tanh, "sigmoid": _np_sigmoid}


def compile_kernels(names, dtypes):
    """{(name, dtype): f(src, dst, n)} for n a multiple of the vector width."""
    import llvmlite.binding as llvm
    from codegen.llvm_math import emit_math

    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    from codegen.llvm import host_target_machine
    tm = host_target_machine("llvm")        # this CPU, as opcomp.Target resolves it
    module = ir.Module(name="bench_math")
    ptr, i64 = ir.PointerType(), ir.IntType(64)
    for name in names:
        for dt in dtypes:
            elem = ir.FloatType() if dt == np.float32 else ir.DoubleType()
            fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [ptr, ptr, i64]),
                             name=f"{name}_{dt.__name__}")
            src, dst, n = fn.args
            entry, loop, done = (fn.append_basic_block(s) for s in ("entry", "loop", "done"))
            b = ir.IRBuilder(entry)
            b.cbranch(b.icmp_signed(">", n, ir.Constant(i64, 0)), loop, done)
            b.position_at_end(loop)
            i = b.phi(i64)
            vt = ir.VectorType(elem, LANES[dt])
            x = b.load(b.gep(src, [i], source_etype=elem), typ=vt, align=64)
            b.store(emit_math(b, name, x), b.gep(dst, [i], source_etype=elem), align=64)
            nxt = b.add(i, ir.Constant(i64, LANES[dt]))
            i.add_incoming(ir.Constant(i64, 0), entry)
            i.add_incoming(nxt, loop)
            b.cbranch(b.icmp_signed("<", nxt, n), loop, done)
            b.position_at_end(done)
            b.ret_void()
    mod = llvm.parse_assembly(str(module))
    mod.triple, mod.data_layout = tm.triple, str(tm.target_data)
    pb = llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=3))
    pb.getModulePassManager().run(mod, pb)
    engine = llvm.create_mcjit_compiler(mod, tm)
    engine.finalize_object()
    proto = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)
    kernels = {}
    for key in ((n, d) for n in names for d in dtypes):
        cfn = proto(engine.get_function_address(f"{key[0]}_{key[1].__name__}"))
        kernels[key] = (lambda f: lambda a, o: f(a.ctypes.data, o.ctypes.data, a.size))(cfn)
    kernels["_engine"] = engine      # keep the code alive
    return kernels


def _aligned(n, dtype):
    raw = np.empty(n * np.dtype(dtype).itemsize + 64, np.uint8)
    off = -raw.ctypes.data % 64
    return raw[off:off + n * np.dtype(dtype).itemsize].view(dtype)


def throughput():
    names = ("exp", "log", "tanh", "erf", "sigmoid")
    kernels = compile_kernels(names, (np.float32, np.float64))
    rng = np.random.default_rng(0)
    for dt, n in ((np.float32, N32), (np.float64, N32 // 2)):
        for name in names:
            x, out, ref = _aligned(n, dt), _aligned(n, dt), _aligned(n, dt)
            x[:] = rng.uniform(0.01 if name == "log" else -10, 10, n)
            f = kernels[(name, dt)]
            sides = {}
            if name in NUMPY:
                sides["NumPy"] = time_calls(lambda: NUMPY[name](x, out=ref))
            else:       # NumPy has no erf; a plain copy is the memory-bound ceiling
                sides["copy (memcpy)"] = time_calls(lambda: np.copyto(ref, x))
            sides["opcomp"] = time_calls(lambda: f(x, out))
            row(f"{name} {np.dtype(dt).name} {n >> 20}M", "GB/s", 2 * x.nbytes, sides)


RANGES = {"exp": [(-104, 89), (-1, 1)], "log": [(1e-45, 3e38), (0.5, 2)],
          "tanh": [(-10, 10), (-1, 1)], "erf": [(-5, 5), (-1.5, 1.5)],
          "sigmoid": [(-100, 30), (-6, 6)]}
RANGES64 = {"exp": [(-745, 709), (-1, 1)], "log": [(1e-320, 1e308), (0.5, 2)],
            "tanh": [(-25, 25), (-1, 1)], "erf": [(-7, 7), (-1.5, 1.5)],
            "sigmoid": [(-745, 40), (-6, 6)]}


def _sample(rng, lo, hi, n, log_scale):
    """Uniform on [lo, hi], or log-uniform for wide positive ranges (log's inputs)."""
    if log_scale and hi / lo > 1e6:
        return np.exp(rng.uniform(np.log(lo), np.log(hi), n))
    return rng.uniform(lo, hi, n)


def accuracy(samples: int = 4000):
    """Max error in ulp of the correctly rounded result, mpmath as the reference."""
    import mpmath as mp
    mp.mp.dps = 40
    ref = {"exp": mp.exp, "log": mp.log, "tanh": mp.tanh, "erf": mp.erf,
           "sigmoid": lambda v: 1 / (1 + mp.exp(-v))}
    kernels = compile_kernels(tuple(ref), (np.float32, np.float64))
    rng = np.random.default_rng(1)
    for dt, table in ((np.float32, RANGES), (np.float64, RANGES64)):
        for name, ranges in table.items():
            xs = [_sample(rng, lo, hi, samples, log_scale=name == "log") for lo, hi in ranges]
            x = _aligned(samples * len(ranges), dt)
            x[:] = np.concatenate(xs)
            out = _aligned(x.size, dt)
            kernels[(name, dt)](x, out)
            worst, at = 0.0, None
            for xi, gi in zip(x.tolist(), out.tolist()):
                r = ref[name](mp.mpf(xi))
                if abs(r) > np.finfo(dt).max:       # overflows: must be inf
                    err = 0.0 if gi == np.inf else np.inf
                    worst, at = max((worst, at), (err, xi))
                    continue
                ulp = float(np.spacing(dt(abs(float(r))))) or float(np.finfo(dt).smallest_subnormal)
                err = abs(float((mp.mpf(gi) - r) / ulp))
                if err > worst:
                    worst, at = err, xi
            print(f"  {name:<8} {np.dtype(dt).name:<8} max {worst:5.2f} ulp  (at x = {at!r})")


if __name__ == "__main__":
    if "--accuracy" in sys.argv:
        accuracy()
    else:
        fair_environment()
        throughput()
