"""The GPU templates of schedules/gpu/ as test cases: each op's call through its
library entry point, and a float64 NumPy reference.

case(target) -> (schedule, args, reference); reference(*inputs) -> the output.
SMALL: emulated correctness (odd sizes, 1, primes: not multiples of any tile).
FULL: nvcc resource checks at sizes where every tile is full.
"""
from __future__ import annotations

import numpy as np

import schedules


def _f64(*xs):
    return [x.astype(np.float64) for x in xs]


def softmax_ref(x):
    x, = _f64(x)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def log_softmax_ref(x):
    x, = _f64(x)
    m = x.max(axis=1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))


def layer_norm_ref(eps):
    def ref(x, g, b):
        x, g, b = _f64(x, g, b)
        mu = x.mean(axis=1, keepdims=True)
        return (x - mu) / np.sqrt(((x - mu) ** 2).mean(axis=1, keepdims=True) + eps) * g + b
    return ref


def rms_norm_ref(eps):
    def ref(x, g):
        x, g = _f64(x, g)
        return x / np.sqrt((x * x).mean(axis=1, keepdims=True) + eps) * g
    return ref


def conv_ref(stride, padding, dilation, groups):
    def ref(x, w):
        x, w = _f64(x, w)
        N, C, H, W = x.shape
        K, Cg, R, S = w.shape
        (sh, sw), (ph, pw), (dh, dw) = ((p, p) if isinstance(p, int) else p
                                         for p in (stride, padding, dilation))
        xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
        OH = (H + 2 * ph - dh * (R - 1) - 1) // sh + 1
        OW = (W + 2 * pw - dw * (S - 1) - 1) // sw + 1
        out = np.zeros((N, K, OH, OW))
        Kg = K // groups
        for k in range(K):
            c0 = (k // Kg) * Cg
            for r in range(R):
                for s_ in range(S):
                    patch = xp[:, c0:c0 + Cg, r * dh:r * dh + sh * (OH - 1) + 1:sh,
                               s_ * dw:s_ * dw + sw * (OW - 1) + 1:sw]
                    out[:, k] += np.einsum("nchw,c->nhw", patch, w[k, :, r, s_])
        return out
    return ref


def reduce_ref(kind, keepdims):
    fn = {"sum": np.sum, "max": np.max, "min": np.min, "mean": np.mean, "prod": np.prod}[kind]
    return lambda x: fn(x.astype(np.float64), axis=-1, keepdims=keepdims)


def batch_ref(ta, tb):
    def ref(a, b):
        a, b = _f64(a, b)
        return (a.transpose(0, 2, 1) if ta else a) @ (b.transpose(0, 2, 1) if tb else b)
    return ref


def op_case(name, *sizes, reference, **options):
    """A case: schedules.get(name)(*sizes, **options, target=...) and its reference."""
    def case(target):
        s, args = schedules.get(name)(*sizes, **options, target=target)
        return s, args, reference
    case.label = f"{name}-{'x'.join(map(str, sizes))}" + "".join(
        f"-{k}={v}" for k, v in options.items())
    return case


SMALL = [
    op_case("matmul", 1, 1, 1, reference=lambda a, b: a.astype(np.float64) @ b),
    op_case("matmul", 37, 29, 13, reference=lambda a, b: a.astype(np.float64) @ b),
    op_case("matmul", 130, 67, 17, reference=lambda a, b: a.astype(np.float64) @ b),
    op_case("batch_matmul", 3, 19, 7, 11, reference=batch_ref(False, False)),
    op_case("batch_matmul", 2, 5, 13, 3, transpose_a=True, transpose_b=True,
            reference=batch_ref(True, True)),
    op_case("conv2d", 1, 3, 7, 7, 5, 3, 3, padding=1, reference=conv_ref(1, 1, 1, 1)),
    op_case("conv2d", 2, 4, 9, 8, 6, 3, 2, stride=2, groups=2, reference=conv_ref(2, 0, 1, 2)),
    op_case("conv2d", 1, 5, 11, 13, 7, 3, 3, padding=2, dilation=2,
            reference=conv_ref(1, 2, 2, 1)),
    op_case("conv2d", 1, 1, 1, 1, 1, 1, 1, reference=conv_ref(1, 0, 1, 1)),
    op_case("softmax", 1, 1, reference=softmax_ref),
    op_case("softmax", 5, 37, reference=softmax_ref),
    op_case("softmax", 3, 300, reference=softmax_ref),
    op_case("log_softmax", 7, 129, reference=log_softmax_ref),
    op_case("layer_norm", 3, 37, reference=layer_norm_ref(1e-5)),
    op_case("layer_norm", 2, 301, eps=1e-3, reference=layer_norm_ref(1e-3)),
    op_case("rms_norm", 5, 67, reference=rms_norm_ref(1e-6)),
    op_case("sum", (5, 37), axis=-1, reference=reduce_ref("sum", False)),
    op_case("max", (2, 3, 301), axis=2, reference=reduce_ref("max", False)),
    op_case("mean", (7, 1), axis=-1, keepdims=True, reference=reduce_ref("mean", True)),
    op_case("min", (13,), axis=0, keepdims=True, reference=reduce_ref("min", True)),
    op_case("exp", (37,), reference=lambda x: np.exp(x.astype(np.float64))),
    op_case("add", (3, 1, 5), (4, 5), reference=lambda a, b: a.astype(np.float64) + b),
    op_case("relu_add", (7, 11), (7, 11),
            reference=lambda a, b: np.maximum(a.astype(np.float64) + b, 0)),
    op_case("transpose", (3, 5, 7), axes=(2, 0, 1),
            reference=lambda x: x.astype(np.float64).transpose(2, 0, 1)),
    op_case("concatenate", [(2, 3), (2, 5)], axis=1,
            reference=lambda a, b: np.concatenate([a, b], axis=1).astype(np.float64)),
    op_case("layout_transform", (1, 3, 5, 7), src="NCHW", dst="NHWC",
            reference=lambda x: x.astype(np.float64).transpose(0, 2, 3, 1)),
]

FULL = [
    op_case("matmul", 512, 512, 512, reference=None),
    op_case("batch_matmul", 8, 256, 256, 128, reference=None),
    op_case("conv2d", 1, 64, 56, 56, 64, 3, 3, padding=1, reference=None),
    op_case("softmax", 4096, 1024, reference=None),
    op_case("log_softmax", 4096, 1024, reference=None),
    op_case("layer_norm", 4096, 1024, reference=None),
    op_case("rms_norm", 4096, 1024, reference=None),
    op_case("sum", (4096, 1024), axis=-1, reference=None),
    op_case("mean", (64, 4096), axis=-1, keepdims=True, reference=None),
    op_case("relu_add", (1024, 1024), (1024,), reference=None),
    op_case("transpose", (256, 512), reference=None),
]
