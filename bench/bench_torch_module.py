"""examples/torch_module.py's layer against the same layer in plain PyTorch.

    python -m bench.bench_torch_module                   # batch 256, 512 -> 256, 15 rounds
    python -m bench.bench_torch_module --sizes 64 256 128 --rounds 30 --trials 8

The layer is softmax(gelu_tanh(x @ W + b)) on x (batch, in_features): OpcompHead
(two opcomp operators: dense with the bias and gelu fused into its epilogue,
its register tile from a short tuning run of the "matmul" template at the
same sizes, then softmax) and PlainHead (x @ W + b, F.gelu, torch.softmax),
with the same weights and inputs, float32, eager (no torch.compile: both
sides run their kernels one by one), torch.set_num_threads(BENCH_THREADS)
and OPCOMP_NUM_THREADS=BENCH_THREADS (default 2; the process re-executes
itself to set it).

Two workloads: forward only (under torch.no_grad) and forward + backward
(loss = (y * g).sum(), gradients of W, b and x; the opcomp backward kernels
are oc.gradient's of the unpacked definitions, scheduled by
schedules/backward.py: dX = dY' @ W^T, dW = X^T @ dY' and the
product the backward recomputes as the library's register-tiled GEMM, the
gelu derivative vectorized once per element, the bias gradient a vectorized
column sum; softmax's backward row reductions parallel over rows, serial
within a row).  Both operators take any batch (schedules.torch_library_op with the
batch symbolic).  The sides take turns, one ~50 ms batch of calls each,
for --rounds rounds; a row gives the median and best milliseconds per call
over the rounds, and the ratios plain / opcomp of the medians and of the
bests (> 1: opcomp faster; on a shared machine PyTorch's OpenMP threads wait
on a busy core, so its median can be several times its best).  Outputs and gradients are checked against each other before timing.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import THREADS, fair_environment

SETTLE_S = 0.1
BATCH_S = 0.05


def _example():
    path = Path(__file__).resolve().parents[1] / "examples" / "torch_module.py"
    spec = importlib.util.spec_from_file_location("opcomp_example_torch_module", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _batch(fn, number):
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number


def compare(sides: dict, rounds: int) -> dict:
    """{side: [seconds per call, one per round]}, the sides taking turns."""
    numbers = {}
    for name, fn in sides.items():
        fn()
        once = max(_batch(fn, 1), 1e-7)
        numbers[name] = max(1, int(BATCH_S / once))
    out = {name: [] for name in sides}
    for _ in range(rounds):
        for name, fn in sides.items():
            time.sleep(SETTLE_S)
            out[name].append(_batch(fn, numbers[name]))
    return out


def report(title: str, times: dict) -> None:
    med = {k: statistics.median(v) for k, v in times.items()}
    for k, v in times.items():
        print(f"  {title:<20} {k:<8} median {med[k] * 1e3:8.3f} ms  best {min(v) * 1e3:8.3f} ms")
    best = {k: min(v) for k, v in times.items()}
    print(f"  {title:<20} plain / opcomp = x{med['plain'] / med['opcomp']:.2f} (medians), "
          f"x{best['plain'] / best['opcomp']:.2f} (bests)")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs=3, default=(256, 512, 256),
                   metavar=("BATCH", "IN", "OUT"))
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--trials", type=int, default=8, help="matmul tuning trials (0: none)")
    a = p.parse_args()
    fair_environment()
    import torch
    torch.set_num_threads(THREADS)
    ex = _example()
    M, K, N = a.sizes
    torch.manual_seed(0)
    plain = ex.PlainHead(K, N)
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "tune.jsonl")
        t0 = time.perf_counter()
        if a.trials:
            best = ex.tune_matmul(M, N, K, log, trials=a.trials).best
            print(f"tuned matmul {M}x{N}x{K}: {a.trials} trials in "
                  f"{time.perf_counter() - t0:.1f} s, best {best.config}")
        t0 = time.perf_counter()
        head = ex.OpcompHead.from_plain(plain, M, name="bench::mlp_head", tuning_log=log)
    print(f"built the two operators and their backwards in {time.perf_counter() - t0:.1f} s; "
          f"dense tile {head.tile or 'default'}")
    print(f"layer softmax(gelu(x @ W + b)), x {M}x{K}, W {K}x{N}, float32, "
          f"{THREADS} threads (torch {torch.__version__}, "
          f"OPCOMP_NUM_THREADS={os.environ.get('OPCOMP_NUM_THREADS')})")

    x = torch.randn(M, K)
    g = torch.randn(M, N)
    xs = {"opcomp": x.clone().requires_grad_(), "plain": x.clone().requires_grad_()}
    mods = {"opcomp": head, "plain": plain}
    for k, m in mods.items():
        m.zero_grad(set_to_none=True)
        (m(xs[k]) * g).sum().backward()
    assert torch.allclose(head(x), plain(x), atol=1e-6, rtol=1e-4)
    for pa, pb in zip([xs["opcomp"], head.weight, head.bias], [xs["plain"], plain.weight,
                                                                plain.bias]):
        assert torch.allclose(pa.grad, pb.grad, atol=1e-4, rtol=1e-3)

    def forward(m):
        def run():
            with torch.no_grad():
                m(x)
        return run

    def train(k):
        m, xk = mods[k], xs[k]

        def run():
            m.zero_grad(set_to_none=True)
            xk.grad = None
            (m(xk) * g).sum().backward()
        return run

    report("forward", compare({k: forward(m) for k, m in mods.items()}, a.rounds))
    report("forward+backward", compare({k: train(k) for k in mods}, a.rounds))


if __name__ == "__main__":
    main()
