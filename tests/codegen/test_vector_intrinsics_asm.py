"""A vectorized transcendental is vector code of the target's width, not a call per lane."""
import re

import numpy as np
import pytest

import llvmlite.binding as llvm

import opcomp as oc

NAMES = ["exp", "log", "tanh", "erf", "sigmoid"]
# An AVX-512 CPU named in the target: its assembly can be read on any host.
AVX512_TARGET = "llvm -mcpu=znver5"


def host_vector_register() -> str:
    """The widest vector register of this host: what a host-targeted loop must use."""
    features = llvm.get_host_cpu_features()
    if features.get("avx512f"):
        return "zmm"
    return "ymm" if features.get("avx2") else "xmm"


def vector_kernel(name, dtype="float32", lanes=16, target="llvm"):
    A = oc.placeholder((1024,), dtype, name="A")
    C = oc.compute((1024,), lambda i: getattr(oc, name)(A[i]), name="C")
    s = oc.create_schedule(C)
    _, xi = s[C].split(C.op.axis[0], factor=lanes)
    s[C].vectorize(xi)
    return oc.build(s, [A, C], name=f"v{name}", target=target)


def kernel_body(asm: str, name: str) -> str:
    """The assembly of the kernel function itself (not helpers it may define)."""
    start = asm.index(f"v{name}:")
    end = asm.find(".Lfunc_end", start)
    return asm[start:end]


def assert_vector_code_without_calls(body: str, register: str, name: str):
    assert re.search(rf"%{register}\d+", body), f"no %{register} registers in the loop"
    calls = [ln for ln in body.splitlines() if re.match(r"\s*call", ln)]
    assert not calls, f"per-lane calls in vectorized {name}: {calls[:3]}"


@pytest.mark.parametrize("name", NAMES)
def test_vectorized_intrinsic_is_zmm_code_on_an_avx512_target(name):
    body = kernel_body(vector_kernel(name, target=AVX512_TARGET).source("asm"), name)
    assert_vector_code_without_calls(body, "zmm", name)


@pytest.mark.parametrize("name", NAMES)
def test_vectorized_intrinsic_float64_is_zmm_code_on_an_avx512_target(name):
    kernel = vector_kernel(name, "float64", lanes=8, target=AVX512_TARGET)
    assert_vector_code_without_calls(kernel_body(kernel.source("asm"), name), "zmm", name)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", NAMES)
def test_vectorized_intrinsic_uses_the_host_vector_width(name, dtype):
    kernel = vector_kernel(name, dtype, lanes=16 if dtype == "float32" else 8)
    body = kernel_body(kernel.source("asm"), name)
    assert_vector_code_without_calls(body, host_vector_register(), name)


@pytest.mark.parametrize("name", NAMES)
def test_vectorized_intrinsic_accuracy_wide_range(name, rng):
    import math
    ref = {"exp": np.exp, "log": np.log, "tanh": np.tanh,
           "sigmoid": lambda x: 1 / (1 + np.exp(-x)), "erf": np.vectorize(math.erf)}[name]
    lo, hi = {"exp": (-100, 88), "log": (1e-30, 1e30), "tanh": (-20, 20),
              "erf": (-6, 6), "sigmoid": (-100, 100)}[name]
    if name == "log":
        a = np.exp(rng.uniform(np.log(lo), np.log(hi), 1024)).astype(np.float32)
    else:
        a = rng.uniform(lo, hi, 1024).astype(np.float32)
    a[:6] = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-40]
    c = np.empty_like(a)
    vector_kernel(name)(a, c)
    with np.errstate(all="ignore"):
        want = ref(a.astype(np.float64)).astype(np.float32)
    np.testing.assert_array_equal(np.isnan(c), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(c), np.isinf(want))
    ok = np.isfinite(want)
    np.testing.assert_allclose(c[ok], want[ok], rtol=3e-6, atol=1e-30 if name != "erf" else 1e-7)
