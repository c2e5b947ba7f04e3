"""The GPU side of the op entry points: argument checks, then the template.

schedules/matmul.py and the other entry points call these when the target is
a CUDA one; each checks its arguments as the CPU op does (OpError naming the
op and the argument) and refuses what its GPU template does not cover (a
layout, an axis) instead of building something else.
"""
from __future__ import annotations

from .. import validate as v
from .conv import gpu_conv2d
from .gemm import gpu_batch_matmul, gpu_matmul
from .tensorcore import gpu_matmul_tensorcore
from .rows import REDUCERS, gpu_layer_norm, gpu_log_softmax, gpu_reduce, gpu_rms_norm, \
    gpu_softmax


def _no_cpu_options(op, **options) -> None:
    """CPU tiling options have no meaning for the GPU template: refuse, do not ignore."""
    for name, value in options.items():
        if value is not None:
            raise v.fail(op, name, f"None on a CUDA target ({name} tunes the CPU schedule; "
                         f"the GPU template's knobs are tuned with autotune)", value)


def _sizes(op, **sizes) -> list:
    return [v.positive(op, name, val) for name, val in sizes.items()]


def matmul(M, N, K, dtype, target, **cpu_options):
    """schedules.matmul on a CUDA target: (schedule, [A (M, K), B (K, N), C (M, N)]).
    float16 runs on the tensor cores (tensorcore.py): A and B float16, C float32;
    bfloat16 likewise (sm_80 on: lowering refuses it below)."""
    _no_cpu_options("matmul", **cpu_options)
    M, N, K = _sizes("matmul", M=M, N=N, K=K)
    dtype = v.dtype("matmul", dtype, v.FLOATS + ("float16", "bfloat16"))
    if dtype in ("float16", "bfloat16"):
        return gpu_matmul_tensorcore(M, N, K, dtype, target=target)  # float16: sm_70+
    return gpu_matmul(M, N, K, v.dtype("matmul", dtype, v.FLOATS), target=target)


def batch_matmul(batch, M, N, K, dtype, transpose_a, transpose_b, target, **cpu_options):
    """schedules.batch_matmul on a CUDA target (same arguments and layouts)."""
    op = "batch_matmul"
    _no_cpu_options(op, **cpu_options)
    batch, M, N, K = _sizes(op, batch=batch, M=M, N=N, K=K)
    return gpu_batch_matmul(batch, M, N, K, v.dtype(op, dtype, v.FLOATS),
                            v.flag(op, "transpose_a", transpose_a),
                            v.flag(op, "transpose_b", transpose_b), target=target)


def conv2d(N, C, H, W, K, R, S, stride, padding, dilation, groups, layout, dtype, target,
           **cpu_options):
    """schedules.conv2d on a CUDA target: NCHW only."""
    op = "conv2d"
    _no_cpu_options(op, **cpu_options)
    N, C, H, W, K, R, S = _sizes(op, N=N, C=C, H=H, W=W, K=K, R=R, S=S)
    if layout != "NCHW":
        raise v.fail(op, "layout", "'NCHW' on a CUDA target (the GPU template is NCHW)",
                     layout)
    stride, dilation = v.pair(op, "stride", stride), v.pair(op, "dilation", dilation)
    padding = v.pair(op, "padding", padding, minimum=0)
    groups = v.positive(op, "groups", groups)
    if C % groups or K % groups:
        raise v.fail(op, "groups", f"a divisor of C={C} and K={K}", groups)
    for name, size, k, pad, dil in (("H", H, R, padding[0], dilation[0]),
                                    ("W", W, S, padding[1], dilation[1])):
        if size + 2 * pad < dil * (k - 1) + 1:
            raise v.fail(op, name, f"at least the dilated filter ({dil * (k - 1) + 1}) "
                         "minus the padding", size)
    return gpu_conv2d(N, C, H, W, K, R, S, list(stride), list(padding), list(dilation), groups,
                      v.dtype(op, dtype, v.FLOATS), target=target)


def _rows(op, R, L, dtype):
    R, L = _sizes(op, R=R, L=L)
    return R, L, v.dtype(op, dtype, v.FLOATS)


def softmax(R, L, dtype, target):
    """schedules.softmax on a CUDA target: [X (R, L), Y (R, L)]."""
    R, L, dtype = _rows("softmax", R, L, dtype)
    return gpu_softmax(R, L, dtype, target=target)


def log_softmax(R, L, dtype, target):
    """schedules.log_softmax on a CUDA target: [X (R, L), Y (R, L)]."""
    R, L, dtype = _rows("log_softmax", R, L, dtype)
    return gpu_log_softmax(R, L, dtype, target=target)


def layer_norm(R, L, eps, dtype, target):
    """schedules.layer_norm on a CUDA target: [X, gamma, beta, Y]."""
    R, L, dtype = _rows("layer_norm", R, L, dtype)
    return gpu_layer_norm(R, L, float(eps), dtype, target=target)


def rms_norm(R, L, eps, dtype, target):
    """schedules.rms_norm on a CUDA target: [X, gamma, Y]."""
    R, L, dtype = _rows("rms_norm", R, L, dtype)
    return gpu_rms_norm(R, L, float(eps), dtype, target=target)


def _reduced_axes(shape, axis) -> tuple:
    """The reduced axes as non-negative ints (None: all), as NumPy reads `axis`."""
    if axis is None:
        return tuple(range(len(shape)))
    items = axis if isinstance(axis, (tuple, list)) else (axis,)
    ok = all(isinstance(a, int) and not isinstance(a, bool) and -len(shape) <= a < len(shape)
             for a in items)
    return tuple(sorted({a % len(shape) for a in items})) if ok else None


def reduce(shape, axis, kind, keepdims, dtype, target):
    """schedules.reduce on a CUDA target: the last axis only."""
    op = kind if kind in REDUCERS else "reduce"
    v.choice(op, "kind", kind, tuple(REDUCERS))
    shape = v.shape(op, "shape", shape)
    last = len(shape) - 1
    if _reduced_axes(shape, axis) != (last,):
        raise v.fail(op, "axis", f"the last axis ({last} or -1) on a CUDA target", axis)
    v.flag(op, "keepdims", keepdims)
    if last == 0 and not keepdims:
        raise v.fail(op, "keepdims", "True for a 1-D X on a CUDA target (a 0-d result has "
                     "no loop to bind a GPU thread to)", keepdims)
    dtype = v.dtype(op, dtype, v.FLOATS if kind == "mean" else v.NUMERIC)
    return gpu_reduce(list(shape), kind, bool(keepdims), dtype, target=target)
