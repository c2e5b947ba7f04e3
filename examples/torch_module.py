"""A torch.nn.Module on two opcomp operators: y = softmax(gelu(x @ W + b)).

    python examples/torch_module.py              # tunes a little, checks, prints one line

The layer is two custom operators made with oc.torch_op from the library:
- "dense": x @ W with bias and gelu (tanh form) fused into its epilogue
  (schedules/dense.py: the epilogue runs on the register tile, `out` is
  written once).  Its register tile (bm x bn) and k step come from the best
  record of the "matmul" autotune template for the same M, N, K in a tuning
  log (`tuned_tile`), or from dense's target default without a log.  Only
  those knobs carry over: the template's row blocking and loop order have no
  counterpart in dense's schedule.
- "softmax": over the last axis (schedules/softmax.py).
Both are made with schedules.torch_library_op with the batch size symbolic, so one
module serves every batch (in_features fixed); `batch` only picks the tuning
record.  Their backward comes from oc.gradient (schedules/backward.py:
the GEMMs of dX and dW with the library's dense schedule): loss.backward()
trains W and b.

`PlainHead` is the same layer in plain PyTorch (the reference for tests and
the benchmark); `OpcompHead.from_plain` copies its parameters.
"""
from __future__ import annotations

import os

import torch
from torch import nn

import schedules  # noqa: F401  (registers the "matmul" autotune template)

# The tests run this file with "aot_eager": the same capture (dynamo, fake tensors,
# AOT autograd) without inductor's C++ compile, which takes tens of seconds cold.
BACKEND = os.environ.get("OPCOMP_EXAMPLE_TORCH_BACKEND", "inductor")


def tune_matmul(M, N, K, log, trials=4, dtype="float32"):
    """A short tuning run of the "matmul" template for M x N x K, records appended to log
    (call it under `if __name__ == "__main__":`: candidates run in worker processes)."""
    from autotune import Task, tune
    return tune(Task("matmul", args=(M, N, K, dtype), target="llvm"), trials=trials, log=log,
                progress=False, validate=0)


def tuned_tile(M, N, K, log, dtype="float32") -> dict:
    """dense's bm, bn, bk from the best "matmul" record of (M, N, K, dtype) on this target
    in log; {} (dense's default tile) when there is none."""
    from autotune import Task
    from autotune.records import ApplyHistoryBest, load
    if log is None or not os.path.exists(log):
        return {}
    rec = ApplyHistoryBest(load(log)).query(Task("matmul", args=(M, N, K, dtype), target="llvm"))
    if rec is None:
        return {}
    bm, bn = (int(v) for v in rec.config["tile"].split("x"))
    return {"bm": bm, "bn": bn, "bk": int(rec.config["tile_k"][-1])}


class OpcompHead(nn.Module):
    """softmax(gelu_tanh(x @ weight + bias)) on x of shape (batch, in_features), as two
    opcomp operators named f"{name}_dense" and f"{name}_softmax" ("ns::op" style).

    tuning_log: a log with "matmul" records (see tuned_tile); None: dense's default tile.
    """

    def __init__(self, batch, in_features, out_features, dtype=torch.float32, *,
                 name="opcomp_examples::mlp_head", tuning_log=None):
        super().__init__()
        self.batch, self.in_features, self.out_features = batch, in_features, out_features
        self.weight = nn.Parameter(torch.empty(in_features, out_features, dtype=dtype))
        self.bias = nn.Parameter(torch.empty(out_features, dtype=dtype))
        with torch.no_grad():
            nn.init.normal_(self.weight, std=in_features ** -0.5)
            nn.init.normal_(self.bias, std=0.1)
        dt = str(dtype).removeprefix("torch.")
        M, N, K = batch, out_features, in_features
        self.tile = tuned_tile(M, N, K, tuning_log, dt)
        # None: the batch is a symbolic size (any batch); the tile was tuned for M
        self.dense = schedules.torch_library_op("dense", f"{name}_dense", None, N, K, dtype=dt,
                                         bias=True, activation="gelu_tanh", **self.tile)
        self.softmax = schedules.torch_library_op("softmax", f"{name}_softmax", None, N, dtype=dt)

    def forward(self, x):
        return self.softmax(self.dense(x, self.weight, self.bias))

    @classmethod
    def from_plain(cls, plain: "PlainHead", batch, **kwargs) -> "OpcompHead":
        """The same layer with plain's parameters (copied)."""
        w = plain.weight
        mod = cls(batch, w.shape[0], w.shape[1], w.dtype, **kwargs)
        with torch.no_grad():
            mod.weight.copy_(w)
            mod.bias.copy_(plain.bias)
        return mod


class PlainHead(nn.Module):
    """The same layer in plain PyTorch: the reference."""

    def __init__(self, in_features, out_features, dtype=torch.float32):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(in_features, out_features, dtype=dtype)
                                   * in_features ** -0.5)
        self.bias = nn.Parameter(torch.randn(out_features, dtype=dtype) * 0.1)

    def forward(self, x):
        h = torch.nn.functional.gelu(x @ self.weight + self.bias, approximate="tanh")
        return torch.softmax(h, dim=-1)


def main():
    import tempfile
    torch.manual_seed(0)
    M, K, N = 64, 256, 128
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "tune.jsonl")
        tune_matmul(M, N, K, log, trials=4)
        plain = PlainHead(K, N)
        head = OpcompHead.from_plain(plain, M, name="examples::mlp_head", tuning_log=log)
    x = torch.randn(M, K)
    y = head(x)                                                     # eager
    assert torch.allclose(y, plain(x), atol=1e-6, rtol=1e-4)
    compiled = torch.compile(head, fullgraph=True, backend=BACKEND)  # one graph, no break
    assert torch.allclose(compiled(x), y, atol=1e-6, rtol=1e-5)
    target = torch.randint(0, N, (M,))
    loss = torch.nn.functional.nll_loss(torch.log(head(x)), target)
    loss.backward()                                                 # opcomp backward kernels
    loss_ref = torch.nn.functional.nll_loss(torch.log(plain(x)), target)
    loss_ref.backward()
    assert torch.allclose(head.weight.grad, plain.weight.grad, atol=1e-5, rtol=1e-3)
    assert torch.allclose(head.bias.grad, plain.bias.grad, atol=1e-5, rtol=1e-3)
    print(f"mlp_head ok: tile {head.tile or 'default'}, loss {loss.item():.4f}; eager, "
          f"compiled ({BACKEND}) and gradients agree with plain PyTorch")


if __name__ == "__main__":
    main()
