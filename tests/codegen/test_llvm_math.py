"""Vector math (codegen/llvm_math.py): accuracy against NumPy/libm, special values, and
that the <16 x float> code is real AVX-512 code (for an AVX-512 CPU) without calls.

Each function is JIT-compiled (O3, host CPU) inside a loop
``void f(ptr in, ptr out, i64 n)`` that loads chunks of the tested type, calls
``emit_math`` and stores, exactly as a kernel would.
"""
from __future__ import annotations

import ctypes
import math
import re
from functools import lru_cache

import llvmlite.binding as llvm
import numpy as np
import pytest
from llvmlite import ir

from codegen.llvm_math import SUPPORTED, emit_math, helper_name

F32, F64 = ir.FloatType(), ir.DoubleType()
# name -> (element type, lanes); lanes 0 means a scalar.  v3f32 is an odd,
# non-native width that the backend has to split and pad.
TYPES = {"v16f32": (F32, 16), "v4f32": (F32, 4), "v3f32": (F32, 3), "f32": (F32, 0),
         "v8f64": (F64, 8), "f64": (F64, 0)}
F32_TYPES = [t for t, (e, _) in TYPES.items() if e is F32]
F64_TYPES = [t for t, (e, _) in TYPES.items() if e is F64]

# Error bounds: float32 within 2 ulp of the exact value (measured worst case
# 1.5), and inside the looser relative tolerances 2e-6 / 3e-6 that a caller
# may rely on; float64 relative error within 1e-15.
RTOL32 = {"exp": 2e-6, "log": 2e-6, "sigmoid": 2e-6, "tanh": 3e-6, "erf": 3e-6}
RTOL64 = 1e-15     # measured worst case 1.5 ulp = 3.3e-16
MAX_ULP32 = 2.0


# ---------------------------------------------------------------------------
# JIT harness


def _target_machine(cpu=None):
    """O3 for this host, or for a named CPU (whose code is only read, never run)."""
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    target = llvm.Target.from_default_triple()
    if cpu:
        return target.create_target_machine(cpu=cpu, opt=3)
    return target.create_target_machine(cpu=llvm.get_host_cpu_name(),
                                        features=llvm.get_host_cpu_features().flatten(), opt=3)


def _define_loop(module: ir.Module, fname: str, name: str, elem, lanes: int):
    """void fname(ptr in, ptr out, i64 n): out[i] = name(in[i]), n a multiple of the width."""
    ptr, i64 = ir.PointerType(), ir.IntType(64)
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [ptr, ptr, i64]), name=fname)
    src, dst, n = fn.args
    ty = ir.VectorType(elem, lanes) if lanes else elem
    width = ir.Constant(i64, max(lanes, 1))
    entry, loop, done = (fn.append_basic_block(s) for s in ("entry", "loop", "done"))
    b = ir.IRBuilder(entry)
    b.cbranch(b.icmp_signed(">", n, ir.Constant(i64, 0)), loop, done)
    b.position_at_end(loop)
    i = b.phi(i64)
    align = 4 if elem is F32 else 8
    x = b.load(b.gep(src, [i], source_etype=elem), typ=ty, align=align)
    b.store(emit_math(b, name, x), b.gep(dst, [i], source_etype=elem), align=align)
    nxt = b.add(i, width)
    i.add_incoming(ir.Constant(i64, 0), entry)
    i.add_incoming(nxt, loop)
    b.cbranch(b.icmp_signed("<", nxt, n), loop, done)
    b.position_at_end(done)
    b.ret_void()


def _optimize(module: ir.Module, tm) -> llvm.ModuleRef:
    mod = llvm.parse_assembly(str(module))
    mod.triple = tm.triple
    mod.data_layout = str(tm.target_data)
    mod.verify()
    pb = llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=3))
    pb.getModulePassManager().run(mod, pb)
    return mod


@lru_cache(maxsize=None)
def _engine():
    """One JIT module holding a loop for every (function, type) pair."""
    tm = _target_machine()
    module = ir.Module(name="math_test")
    for name in SUPPORTED:
        for tname, (elem, lanes) in TYPES.items():
            _define_loop(module, f"{name}_{tname}", name, elem, lanes)
    engine = llvm.create_mcjit_compiler(_optimize(module, tm), tm)
    engine.finalize_object()
    return engine


def run(name: str, tname: str, x: np.ndarray) -> np.ndarray:
    """name(x) through the JIT-compiled loop for type tname."""
    elem, lanes = TYPES[tname]
    dtype = np.float32 if elem is F32 else np.float64
    width = max(lanes, 1)
    n = -(-x.size // width) * width
    src = np.zeros(n, dtype)
    src[:x.size] = x
    dst = np.empty(n, dtype)
    addr = _engine().get_function_address(f"{name}_{tname}")
    proto = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)
    proto(addr)(src.ctypes.data, dst.ctypes.data, n)
    return dst[:x.size]


# ---------------------------------------------------------------------------
# References and inputs


_erf = np.vectorize(math.erf, otypes=[np.float64])


def reference(name: str, x64: np.ndarray) -> np.ndarray:
    """name(x) computed in float64 by NumPy (libm's erf for erf)."""
    with np.errstate(all="ignore"):
        if name == "exp":
            return np.exp(x64)
        if name == "log":
            return np.log(x64)
        if name == "tanh":
            return np.tanh(x64)
        if name == "erf":
            return _erf(x64)
        e = np.exp(-np.abs(x64))
        return np.where(x64 < 0, e, 1.0) / (1.0 + e)


def _specials(dtype) -> np.ndarray:
    fi = np.finfo(dtype)
    vals = [np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, fi.max, -fi.max,
            fi.tiny, -fi.tiny, fi.smallest_subnormal, -fi.smallest_subnormal, fi.eps]
    return np.array(vals, dtype)


def inputs(name: str, dtype, seed: int = 0) -> np.ndarray:
    """Wide and dense ranges for name, special values, and random bit patterns."""
    rng = np.random.default_rng(seed)
    big = 709.0 if dtype == np.float64 else 88.0
    if name == "exp":
        parts = [np.linspace(-big - 40, big + 2, 100_001), np.linspace(-1, 1, 20_001),
                 rng.uniform(-big - 40, big + 2, 20_000)]
    elif name == "log":
        hi = 308.2 if dtype == np.float64 else 38.5
        lo = -323.5 if dtype == np.float64 else -45.0
        parts = [np.logspace(lo, hi, 100_001), np.linspace(0.5, 2, 20_001),
                 np.linspace(1 - 1e-3, 1 + 1e-3, 2001), rng.uniform(0, 10, 20_000)]
    else:
        parts = [np.linspace(-20, 20, 100_001), np.linspace(-1e-2, 1e-2, 2001),
                 np.logspace(-40, 0, 2001), -np.logspace(-40, 0, 2001),
                 rng.uniform(-7, 7, 20_000)]
    xs = np.concatenate([p.astype(dtype) for p in parts] + [_specials(dtype)])
    itype = np.uint32 if dtype == np.float32 else np.uint64
    bits = rng.integers(0, np.iinfo(itype).max, 20_000, dtype=itype, endpoint=True)
    return np.concatenate([xs, bits.view(dtype)])


def ulp_error(got: np.ndarray, ref64: np.ndarray, dtype) -> np.ndarray:
    """|got - ref| in units of the last place of ref rounded to dtype (finite refs)."""
    with np.errstate(all="ignore"):
        ref = ref64.astype(dtype)
        ok = np.isfinite(ref64) & np.isfinite(got)
        ulp = np.spacing(np.abs(ref[ok])).astype(np.float64)
        return np.abs(got[ok].astype(np.float64) - ref64[ok]) / ulp


def check(name: str, tname: str, dtype, rtol: float, atol: float) -> np.ndarray:
    x = inputs(name, dtype)
    got = run(name, tname, x)
    with np.errstate(all="ignore"):     # signalling NaNs among the random bits
        ref64 = reference(name, x.astype(np.float64))
        ref = ref64.astype(dtype)
    # NaN and +-inf positions and signs must match exactly.
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    inf = np.isinf(ref) | np.isinf(got)
    np.testing.assert_array_equal(got[inf], ref[inf])
    np.testing.assert_allclose(got, ref, rtol=rtol, atol=atol)
    return ulp_error(got, ref64, dtype)


# ---------------------------------------------------------------------------
# Accuracy


@pytest.mark.parametrize("tname", F32_TYPES)
@pytest.mark.parametrize("name", SUPPORTED)
def test_float32_accuracy(name, tname):
    # The absolute floor only matters for results that underflow or sit at 0.
    atol = 1e-7 if name in ("tanh", "erf") else 1e-44
    ulps = check(name, tname, np.float32, RTOL32[name], atol)
    assert ulps.max() <= MAX_ULP32, f"{name} {tname}: {ulps.max():.2f} ulp"


@pytest.mark.parametrize("tname", F64_TYPES)
@pytest.mark.parametrize("name", SUPPORTED)
def test_float64_accuracy(name, tname):
    check(name, tname, np.float64, RTOL64, 1e-300)


@pytest.mark.parametrize("tname", ["v16f32", "v8f64"])
def test_exp_denormal_results_are_rounded(tname):
    if tname == "v16f32":
        x = np.linspace(-103.9, -87.4, 50_001).astype(np.float32)
        ref = np.exp(x.astype(np.float64))
    else:   # float64 cannot hold its own denormal reference: mpmath, fewer points
        mpmath = pytest.importorskip("mpmath")
        x = np.linspace(-745.1, -708.4, 3001)
        ref = np.array([float(mpmath.exp(v)) for v in x])
    got = run("exp", tname, x)
    # Within one unit of the denormal grid, i.e. float rounding there.
    step = np.finfo(x.dtype).smallest_subnormal
    assert np.abs(got.astype(np.float64) - ref).max() <= step

@pytest.mark.parametrize("tname", ["v16f32", "f32", "v8f64", "f64"])
def test_special_values(tname):
    dtype = np.float32 if "f32" in tname else np.float64
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0], dtype)
    nan, inf = np.nan, np.inf
    want = {"exp": [nan, inf, 0.0, 1.0, 1.0], "log": [nan, inf, nan, -inf, -inf],
            "tanh": [nan, 1.0, -1.0, 0.0, -0.0], "erf": [nan, 1.0, -1.0, 0.0, -0.0],
            "sigmoid": [nan, 1.0, 0.0, 0.5, 0.5]}
    for name, expect in want.items():
        got = run(name, tname, x)
        np.testing.assert_array_equal(got, np.array(expect, dtype), err_msg=name)
        # Signs of zero too (tanh(-0) = erf(-0) = -0).
        assert list(np.signbit(got[3:])) == list(np.signbit(np.array(expect[3:], dtype))), name
    assert np.isnan(run("log", tname, np.array([-1.0, -np.finfo(dtype).tiny], dtype))).all()


def test_saturation_and_tails():
    x = np.array([-1e30, -100, -30, 30, 100, 1e30], np.float32)
    np.testing.assert_array_equal(run("tanh", "v16f32", x), np.sign(x))
    np.testing.assert_array_equal(run("erf", "v16f32", x), np.sign(x))
    sig = run("sigmoid", "v16f32", np.array([-100.0, -90.0, 100.0], np.float32))
    # sigmoid(-100) = 3.7e-44 is a float32 denormal, not 0.
    np.testing.assert_allclose(sig, [3.7835e-44, 8.194e-40, 1.0], rtol=0.05)


# ---------------------------------------------------------------------------
# Generated code


def _asm_for(name: str, tname: str, cpu=None) -> str:
    tm = _target_machine(cpu)
    module = ir.Module(name="asm_test")
    elem, lanes = TYPES[tname]
    _define_loop(module, "f", name, elem, lanes)
    return tm.emit_assembly(_optimize(module, tm))


@pytest.mark.parametrize("name", SUPPORTED)
def test_v16f32_is_avx512_without_calls(name):
    asm = _asm_for(name, "v16f32", cpu="znver5")
    assert "zmm" in asm
    # No call, and no tail call (a jmp to anything but a local .L label).
    assert not re.search(r"^\s*(call|jmp\s+[^.\s])", asm, re.M), asm


def test_unoptimized_module_gives_the_same_bits():
    # A debug build may skip the IR pipeline: the helpers then stay calls.
    tm = _target_machine()
    module = ir.Module(name="o0")
    for name in SUPPORTED:
        _define_loop(module, f"{name}_v16f32", name, F32, 16)
    mod = llvm.parse_assembly(str(module))
    engine = llvm.create_mcjit_compiler(mod, tm)
    engine.finalize_object()
    proto = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)
    x = np.linspace(-30, 30, 4096).astype(np.float32)
    for name in SUPPORTED:
        xin = np.abs(x) if name == "log" else x
        out = np.empty_like(x)
        fn = proto(engine.get_function_address(f"{name}_v16f32"))
        fn(xin.ctypes.data, out.ctypes.data, x.size)
        np.testing.assert_array_equal(out, run(name, "v16f32", xin), err_msg=name)


def test_helpers_defined_once_per_module_and_type():
    module = ir.Module(name="reuse")
    vt = ir.VectorType(F32, 16)
    for k in range(2):
        fn = ir.Function(module, ir.FunctionType(vt, [vt]), name=f"g{k}")
        b = ir.IRBuilder(fn.append_basic_block())
        b.ret(emit_math(b, "tanh", emit_math(b, "exp", fn.args[0])))
    text = str(module)
    assert text.count(f'define internal {vt} @"{helper_name("exp", vt)}"') == 1
    assert text.count(f'@"{helper_name("tanh", vt)}"(') >= 2
    # Only LLVM intrinsics are declared: no libm.
    assert all(d.split("@")[1].startswith('"llvm.') for d in re.findall(r"^declare .*", text, re.M))


def test_rejects_unknown_name_and_type():
    module = ir.Module(name="bad")
    fn = ir.Function(module, ir.FunctionType(F32, [F32, ir.IntType(32)]), name="g")
    b = ir.IRBuilder(fn.append_basic_block())
    with pytest.raises(ValueError, match="unsupported"):
        emit_math(b, "sin", fn.args[0])
    with pytest.raises(TypeError):
        emit_math(b, "exp", fn.args[1])
