"""export_library / load_module: a shared library + C header, callable from Python and C."""
from __future__ import annotations

import itertools
import shutil
import subprocess

import numpy as np
import pytest

import opcomp as oc
from opcomp.ir import expr as E
from opcomp.ir import tir as T
from opcomp.build import build
from opcomp.runtime.export import ExportError


_ids = itertools.count()


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("OPCOMP_CACHE_DIR", str(tmp_path / "cache"))


def saxpy(kind="serial", name=None):
    """Y[i, j] = 2 * X[i, j] + Y0[i, j]  with X, Y0, Y: (n, 8) float32; kind: the outer loop's."""
    n, i, j = E.Var("n", "int32"), E.Var("i", "int32"), E.Var("j", "int32")
    X, Y0, Y = (T.Buffer(b, "float32", (n, E.const(8))) for b in ("X", "Y0", "Y"))
    k = i * 8 + j
    store = T.Store(Y, (k,), E.Load(X, (k,), "float32") * 2.0 + E.Load(Y0, (k,), "float32"))
    zero = E.const(0, "int32")
    body = T.For(i, zero, n, kind, T.For(j, zero, E.const(8), "serial", store))
    return T.PrimFunc(name or f"saxpy{next(_ids)}", (X, Y0, Y), body, (n,))


def int_kernel(name=None):
    """C[i] = A[i] * B[i] for int64 A, int32 B -> int64 C; n elements."""
    n, i = E.Var("n", "int32"), E.Var("i", "int32")
    A, B, C = T.Buffer("A", "int64", (n,)), T.Buffer("B", "int32", (n,)), T.Buffer("C", "int64", (n,))
    store = T.Store(C, (i,), E.Load(A, (i,), "int64") * E.Load(B, (i,), "int32"))
    body = T.For(i, E.const(0, "int32"), n, "serial", store)
    return T.PrimFunc(name or f"imul{next(_ids)}", (A, B, C), body, (n,))


@pytest.mark.parametrize("kind", ["serial", "parallel"])
def test_export_and_load_round_trip(tmp_path, rng, kind):
    mod = build(saxpy(kind), target="llvm")
    lib = tmp_path / f"lib{mod.name}.so"
    assert mod.export_library(str(lib)) == str(lib)
    assert lib.is_file() and lib.with_suffix(".h").is_file()
    mod2 = oc.load_module(lib)
    assert mod2.name == mod.name and mod2.artifact is None and mod2.library == str(lib)
    x, y0 = rng.standard_normal((13, 8), np.float32), rng.standard_normal((13, 8), np.float32)
    y = rng.standard_normal((13, 8), np.float32)
    mod2(x, y0, y)
    np.testing.assert_allclose(y, 2 * x + y0, rtol=1e-6)
    assert mod2.source("tir") == mod.source("tir")
    with pytest.raises(ValueError, match=r"loaded from .* has no 'llvm' source.*available: tir"):
        mod2.source("llvm")


def test_library_exports_only_the_kernel_and_its_metadata(tmp_path):
    nm = shutil.which("nm") or pytest.skip("no nm")
    mod = build(saxpy("parallel"), target="llvm")
    lib = mod.export_library(tmp_path / "libp.so")
    out = subprocess.run([nm, "-D", "--defined-only", lib], capture_output=True, text=True,
                         check=True).stdout
    assert sorted(line.split()[-1] for line in out.splitlines()) == \
        sorted([mod.name, f"opcomp_meta_{mod.name}"])


def test_loaded_module_checks_arguments(tmp_path, rng):
    mod = build(saxpy(), target="llvm")
    mod2 = oc.load_module(mod.export_library(tmp_path / "libk.so"))
    x = rng.standard_normal((4, 8), np.float32)
    y = rng.standard_normal((4, 8), np.float32)
    before = y.copy()
    with pytest.raises(oc.ArgumentError, match=r"Y0.shape\[1\] must be 8, got 7"):
        mod2(x, rng.standard_normal((4, 7), np.float32), y)
    y.flags.writeable = False
    with pytest.raises(oc.ArgumentError, match=r"argument Y is written by the kernel"):
        mod2(x, x, y)
    np.testing.assert_array_equal(y, before)
    assert [p.is_output for p in mod2.signature.params] == [False, False, True]


def test_header_declares_c_types_and_shapes(tmp_path):
    mod = build(int_kernel(name="imul_h"), target="llvm")
    mod.export_library(tmp_path / "libimul.so")
    h = (tmp_path / "libimul.h").read_text()
    assert "int32_t imul_h(const int64_t* A, const int32_t* B, int64_t* C, int64_t n);" in h
    assert "A: int64(n,), input" in h and "C: int64(n,), output" in h
    assert "#include <stdint.h>" in h and 'extern "C"' in h


@pytest.mark.parametrize("dtype, ctype", [("bool", "uint8_t"), ("float16", "uint16_t"),
                                          ("float64", "double"), ("uint8", "uint8_t")])
def test_header_c_type_per_dtype(tmp_path, dtype, ctype):
    n, i = E.Var("n", "int32"), E.Var("i", "int32")
    A, C = T.Buffer("A", dtype, (n,)), T.Buffer("C", dtype, (n,))
    body = T.For(i, E.const(0, "int32"), n, "serial", T.Store(C, (i,), E.Load(A, (i,), dtype)))
    mod = build(T.PrimFunc(f"copy_{dtype}", (A, C), body, (n,)), target="llvm")
    mod.export_library(tmp_path / "libc.so")
    h = (tmp_path / "libc.h").read_text()
    assert f"int32_t copy_{dtype}(const {ctype}* A, {ctype}* C, int64_t n);" in h


C_MAIN = r"""
#include <stdio.h>
#include "HEADER"
int main(void) {
    long n;
    if (scanf("%ld", &n) != 1) return 2;
    static float x[1024], y0[1024], y[1024];
    for (long k = 0; k < n * 8; ++k) scanf("%f", &x[k]);
    for (long k = 0; k < n * 8; ++k) scanf("%f", &y0[k]);
    int rc = KERNEL(x, y0, y, n);
    for (long k = 0; k < n * 8; ++k) printf("%.9g\n", y[k]);
    return rc;
}
"""


def _compile_and_run(tmp_path, mod, x, y0) -> np.ndarray:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    lib = tmp_path / f"lib{mod.name}.so"
    mod.export_library(lib)
    src = tmp_path / "main.c"
    src.write_text(C_MAIN.replace("HEADER", lib.with_suffix(".h").name).replace("KERNEL", mod.name))
    exe = tmp_path / "main"
    subprocess.run([cc, "-O1", "-Wall", "-Werror", "-o", str(exe), str(src), str(lib),
                    f"-Wl,-rpath,{tmp_path}", f"-I{tmp_path}"], check=True,
                   capture_output=True, text=True)
    feed = f"{x.shape[0]}\n" + "\n".join(f"{v:.9g}" for v in np.concatenate([x.ravel(), y0.ravel()]))
    res = subprocess.run([str(exe)], input=feed, capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    return np.array(res.stdout.split(), dtype=np.float32).reshape(x.shape)


@pytest.mark.parametrize("kind", ["serial", "parallel"])
def test_c_program_with_generated_header(tmp_path, rng, kind):
    mod = build(saxpy(kind), target="llvm")
    x, y0 = rng.standard_normal((37, 8), np.float32), rng.standard_normal((37, 8), np.float32)
    got = _compile_and_run(tmp_path, mod, x, y0)
    expect = np.empty_like(x)
    mod(x, y0, expect)
    np.testing.assert_array_equal(got, expect)
    np.testing.assert_allclose(got, 2 * x + y0, rtol=1e-6)


def test_export_without_c_compiler(tmp_path, monkeypatch):
    mod = build(saxpy(), target="llvm")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ExportError, match="needs a C compiler"):
        mod.export_library(tmp_path / "libx.so")
    assert not (tmp_path / "libx.so").exists()


def test_export_of_a_loaded_module_is_refused(tmp_path):
    mod2 = oc.load_module(build(saxpy(), target="llvm").export_library(tmp_path / "liba.so"))
    with pytest.raises(ExportError, match="was loaded from"):
        mod2.export_library(tmp_path / "libb.so")


def test_load_module_of_a_foreign_library(tmp_path):
    cc = shutil.which("cc") or pytest.skip("no C compiler")
    src = tmp_path / "f.c"
    src.write_text("int f(void) { return 1; }\n")
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(tmp_path / "libf.so"), str(src)], check=True)
    with pytest.raises(ValueError, match="has no opcomp kernel metadata"):
        oc.load_module(tmp_path / "libf.so")
    with pytest.raises(FileNotFoundError, match="no such library"):
        oc.load_module(tmp_path / "missing.so")
