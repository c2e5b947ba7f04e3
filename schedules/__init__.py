"""The operator library: compute definitions with tuned schedule templates.

    import schedules
    schedules.list_ops()          # the op names, sorted: [..., 'matmul', ..., 'softmax', ...]
    s, args = schedules.get("matmul")(M, N, K)

Each CPU op is also the autotune template of its name (Task("conv2d", sizes));
the op applies tuned records inside autotune.apply_history_best (schedules/tunable.py).
"""
from __future__ import annotations

from . import layer_norm, matmul, softmax
from . import batch_matmul, conv2d, dense, depthwise, injective, matvec, pool, reduce

_OPS = {"matmul": matmul.matmul,
        "softmax": softmax.softmax, "log_softmax": softmax.log_softmax,
        "layer_norm": layer_norm.layer_norm, "rms_norm": layer_norm.rms_norm}
_OPS.update({
    "dense": dense.dense, "batch_matmul": batch_matmul.batch_matmul, "matvec": matvec.matvec,
    "conv2d": conv2d.conv2d, "depthwise_conv2d": depthwise.depthwise_conv2d,
    "max_pool2d": pool.max_pool2d, "avg_pool2d": pool.avg_pool2d,
    "sum": reduce.sum_, "mean": reduce.mean, "max": reduce.max_, "min": reduce.min_,
    "prod": reduce.prod, "argmax": reduce.argmax, "argmin": reduce.argmin,
    **{name: injective.unary(name) for name in injective.UNARY},
    **{name: injective.binary(name) for name in injective.BINARY},
    "transpose": injective.transpose, "pad": injective.pad,
    "concatenate": injective.concatenate, "cast": injective.cast,
    "layout_transform": injective.layout_transform,
})
# Injective ops with one output stage also run on a CUDA target ("gpu/injective").
from .gpu import elementwise as _gpu_elementwise  # noqa: E402
_OPS.update(_gpu_elementwise.wrap_injective(
    _OPS, [*injective.UNARY, *injective.BINARY, *_gpu_elementwise.GPU_OPS]))


def list_ops() -> list:
    """Names of the ops in the library."""
    return sorted(_OPS)


def get(name: str):
    """The schedule function of an op: call it with the op's sizes to get (schedule, args)."""
    if name not in _OPS:
        raise KeyError(f"unknown op {name!r}; known: {', '.join(list_ops())}")
    return _OPS[name]


def torch_library_op(op: str, name: str, *sizes, differentiable: bool = True,
                     target="llvm", **options):
    """The library op `op` with its sizes symbolic (None or left out: an oc.size_var)
    as the PyTorch operator `name` ("namespace::op"); returns oc.torch_op's TorchOp.
    See schedules/torch_library.py."""
    from .torch_library import torch_library_op as make
    return make(op, name, *sizes, differentiable=differentiable, target=target, **options)
