"""C functions for the extern and tensorize tests, compiled with gcc into a
shared library under a pytest tmp folder and loaded with oc.load_library.

MCJIT resolves a name to the first loaded library that defines it, so a name
means one function in the whole test session: the error tests load these same
sources again (same code, same names); new functions need new names.
"""
from __future__ import annotations

import shutil
import subprocess

import pytest

import opcomp as oc


def compile_library(folder, name: str, source: str, flags=()) -> str:
    """gcc -O2 -shared source -> folder/lib<name>.so, loaded into the process."""
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.fail("a C compiler (gcc or cc) is needed to build the test's C library")
    src = folder / f"{name}.c"
    src.write_text(source)
    lib = folder / f"lib{name}.so"
    subprocess.run([cc, "-O2", "-shared", "-fPIC", *flags, "-o", str(lib), str(src)],
                   check=True, capture_output=True, text=True)
    return oc.load_library(lib)


def avx2_flags() -> list:
    """-mavx2 -mfma when this CPU (the build target) has them, else nothing: the C
    code then takes its portable branch."""
    features = oc.Target("llvm").features
    return ["-mavx2", "-mfma"] if {"avx2", "fma"} <= set(features) else []


# An 8x8 block of C += A[8 x kc] * B[kc x 8], row strides lda/ldb/ldc: eight
# 256-bit accumulators, one broadcast FMA per row and k (AVX2); a scalar loop on
# CPUs without AVX2.  AVX-512 machines have AVX2, so the vector branch runs there too.
GEMM_8X8 = r"""
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif
int tz_gemm8x8_uses_avx2(void) {
#if defined(__AVX2__) && defined(__FMA__)
  return 1;
#else
  return 0;
#endif
}
int tz_gemm8x8_reset(float *c, int ldc) {
  for (int i = 0; i < 8; i++)
    for (int j = 0; j < 8; j++) c[i * ldc + j] = 0.0f;
  return 0;
}
int tz_gemm8x8_update(float *c, const float *a, const float *b, int kc, int lda, int ldb,
                      int ldc) {
#if defined(__AVX2__) && defined(__FMA__)
  __m256 acc[8];
  for (int i = 0; i < 8; i++) acc[i] = _mm256_loadu_ps(c + i * ldc);
  for (int k = 0; k < kc; k++) {
    __m256 bk = _mm256_loadu_ps(b + k * ldb);
    for (int i = 0; i < 8; i++)
      acc[i] = _mm256_fmadd_ps(_mm256_set1_ps(a[i * lda + k]), bk, acc[i]);
  }
  for (int i = 0; i < 8; i++) _mm256_storeu_ps(c + i * ldc, acc[i]);
#else
  for (int i = 0; i < 8; i++)
    for (int j = 0; j < 8; j++) {
      float s = c[i * ldc + j];
      for (int k = 0; k < kc; k++) s += a[i * lda + k] * b[k * ldb + j];
      c[i * ldc + j] = s;
    }
#endif
  return 0;
}
/* c[0:8] = a[0:8] + b[0:8] */
int tz_vadd8(float *c, const float *a, const float *b) {
  for (int i = 0; i < 8; i++) c[i] = a[i] + b[i];
  return 0;
}
"""

# Whole-buffer functions for extern stages.
EXTERN_FUNCS = r"""
#include <stdint.h>
/* b[i] = a[i] * f */
int ex_scale(const float *a, float *b, int n, float f) {
  for (int i = 0; i < n; i++) b[i] = a[i] * f;
  return 0;
}
/* c[i, j] = a[i, j] + b[j] for an m x n row-major c with row stride ldc */
int ex_add_row(const float *a, const float *b, float *c, int m, int n, int ldc) {
  for (int i = 0; i < m; i++)
    for (int j = 0; j < n; j++) c[i * ldc + j] = a[i * n + j] + b[j];
  return 0;
}
/* b[i] = sqrt(b[i]) in place */
double sqrt(double);
int ex_sqrt_inplace(float *b, int64_t n) {
  for (int64_t i = 0; i < n; i++) b[i] = (float)sqrt((double)b[i]);
  return 0;
}
"""
