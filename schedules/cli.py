"""The `opcomp` command line.

    opcomp list                                 the library's ops and their sizes
    opcomp show OP SIZES... [--ir|--llvm|--asm|--cuda]
                                                the lowered loop nest (default), LLVM IR,
                                                assembly or CUDA C of an op
    opcomp bench OP SIZES... [--repeat N]       time an op against NumPy and PyTorch
    opcomp export OP SIZES... -o libop.so       a shared library and its C header
    opcomp tune OP SIZES... [--trials N]        tune an op for this machine (autotune)
    opcomp demo [--size N]                      build, check and time a matmul

SIZES are the op's size arguments in order (`opcomp list` names them);
`-O key=value` passes a keyword option to the op (dtype=float64, stride=2...).
Every command takes --help.  A failure prints one line, `opcomp: error: ...`,
on stderr and exits with status 1 (2 for a malformed command line);
--traceback shows the whole Python traceback instead.
"""
from __future__ import annotations

import argparse
import inspect
import os
import sys
import time

import numpy as np

from autotune.cli import parse_options


class CLIError(Exception):
    """A failure to report as one line (exit status 1)."""


# -- ops and their arguments -------------------------------------------------------------
def _op_function(name: str):
    import schedules
    try:
        return schedules.get(name)
    except KeyError as exc:
        raise CLIError(exc.args[0]) from None


def _size_names(fn) -> list:
    """The op's size parameters: the positional ones without a default."""
    return [p.name for p in inspect.signature(fn).parameters.values()
            if p.default is inspect.Parameter.empty
            and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def _options(pairs) -> dict:
    try:
        return parse_options(pairs)
    except ValueError as exc:
        raise CLIError(str(exc)) from None


def _instantiate(args, target=None):
    """(schedule, tensor args, kwargs) of the op named on the command line."""
    fn = _op_function(args.op)
    names = _size_names(fn)
    if len(args.sizes) != len(names):
        raise CLIError(f"{args.op} takes {len(names)} sizes ({' '.join(names)}), got "
                       f"{len(args.sizes)}: opcomp {args.cmd} {args.op} "
                       f"{' '.join(names)}")
    kwargs = _options(args.option)
    if target is not None:
        kwargs.setdefault("target", target)
    s, tensors = fn(*args.sizes, **kwargs)
    return s, tensors, kwargs


def _build(args, target="llvm"):
    import opcomp as oc
    s, tensors, kwargs = _instantiate(args, None if target == "llvm" else target)
    name = getattr(args, "name", None) or args.op
    return oc.build(s, tensors, target=kwargs.get("target", target), name=name), tensors, kwargs


# -- list, show, export --------------------------------------------------------------------
def _list(args) -> int:
    import schedules
    for name in schedules.list_ops():
        print(f"{name} {' '.join(_size_names(schedules.get(name)))}")
    return 0


def _show(args) -> int:
    import opcomp as oc
    if args.llvm or args.asm or args.cuda:
        fmt = "llvm" if args.llvm else "asm" if args.asm else "cuda"
        mod, _, _ = _build(args, "cuda" if args.cuda else "llvm")
        print(mod.source(fmt))
        return 0
    s, tensors, _ = _instantiate(args)
    print(oc.lower(s, tensors, name=args.op))
    return 0


def _export(args) -> int:
    mod, _, _ = _build(args)
    path = mod.export_library(args.output)
    print(f"wrote {path} and {os.path.splitext(path)[0]}.h")
    return 0


# -- references for bench: what a user would call instead ----------------------------------
def _swap(x, flag):
    return x.swapaxes(-1, -2) if flag else x


def _np_softmax(x, **_):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _np_log_softmax(x, **_):
    y = x - x.max(axis=-1, keepdims=True)
    return y - np.log(np.exp(y).sum(axis=-1, keepdims=True))


def _np_layer_norm(x, gamma, beta, eps=1e-5, **_):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * gamma + beta


def _np_rms_norm(x, gamma, eps=1e-6, **_):
    return x / np.sqrt((x * x).mean(axis=-1, keepdims=True) + eps) * gamma


def _torch_conv2d(torch, data, weight, stride=1, padding=0, dilation=1, groups=1,
                  layout="NCHW", **_):
    nhwc = layout == "NHWC"
    if nhwc:                                     # data NHWC, weights HWIO
        data, weight = data.permute(0, 3, 1, 2), weight.permute(3, 2, 0, 1)
    out = torch.nn.functional.conv2d(data, weight, stride=stride, padding=padding,
                                     dilation=dilation, groups=groups)
    return out.permute(0, 2, 3, 1).contiguous() if nhwc else out


def _conv2d_flops(sizes, kw, params):
    out = params[-1].shape
    n, c, _, _, _, r, s_ = sizes
    return 2 * int(np.prod([int(d.value) for d in out])) * c // kw.get("groups", 1) * r * s_


# op -> (NumPy function, PyTorch function (torch, *tensors, **options), FLOPs (sizes,
# options, params) or None for a memory-bound op, reported in GB/s of its arguments)
REFERENCES = {
    "matmul": (lambda a, b, **_: a @ b, lambda torch, a, b, **_: torch.matmul(a, b),
               lambda sz, kw, ps: 2 * sz[0] * sz[1] * sz[2]),
    "batch_matmul": (
        lambda a, b, transpose_a=False, transpose_b=False, **_:
            _swap(a, transpose_a) @ _swap(b, transpose_b),
        lambda torch, a, b, transpose_a=False, transpose_b=False, **_:
            torch.matmul(_swap(a, transpose_a), _swap(b, transpose_b)),
        lambda sz, kw, ps: 2 * sz[0] * sz[1] * sz[2] * sz[3]),
    "softmax": (_np_softmax, lambda torch, x, **_: torch.softmax(x, -1), None),
    "log_softmax": (_np_log_softmax, lambda torch, x, **_: torch.log_softmax(x, -1), None),
    "layer_norm": (_np_layer_norm, lambda torch, x, g, b, eps=1e-5, **_:
                   torch.nn.functional.layer_norm(x, x.shape[-1:], g, b, eps), None),
    "rms_norm": (_np_rms_norm, lambda torch, x, g, eps=1e-6, **_:
                 torch.nn.functional.rms_norm(x, x.shape[-1:], g, eps), None),
    "conv2d": (None, _torch_conv2d, _conv2d_flops),
}


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def _implementations(op, inputs, kwargs) -> list:
    """(name, zero-argument callable) for NumPy and PyTorch, where they exist."""
    np_fn, torch_fn, _ = REFERENCES[op]
    out = []
    if np_fn is not None:
        out.append(("numpy", lambda: np_fn(*inputs, **kwargs)))
    torch = _torch() if torch_fn is not None else None
    if torch is not None:
        import opcomp as oc
        torch.set_num_threads(oc.runtime_threads())      # same threads as opcomp
        tensors = [torch.from_numpy(x) for x in inputs]
        out.append(("torch", lambda: torch_fn(torch, *tensors, **kwargs)))
    return out


def _float64_reference(op, inputs, kwargs):
    """The op's outputs computed in float64 (a list), or None without a reference."""
    np_fn, torch_fn, _ = REFERENCES[op]
    wide = [x.astype(np.float64) if x.dtype.kind == "f" else x for x in inputs]
    if np_fn is not None:
        out = np_fn(*wide, **kwargs)
    elif _torch() is not None:
        torch = _torch()
        out = torch_fn(torch, *[torch.from_numpy(x) for x in wide], **kwargs)
        out = [o.numpy() for o in out] if isinstance(out, (tuple, list)) else out.numpy()
    else:
        return None
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _work(op, sizes, kwargs, params) -> tuple:
    """(amount, unit): FLOPs for compute-bound ops, else the bytes of all arguments."""
    flops = REFERENCES[op][2] if op in REFERENCES else None
    if flops is not None:
        return flops(sizes, kwargs, params), "GFLOP/s"
    nbytes = sum(int(np.prod([int(d.value) for d in p.shape])) * p.np_dtype.itemsize
                 for p in params)
    return nbytes, "GB/s"


# -- bench -----------------------------------------------------------------------------------
def _random_inputs(params, rng) -> list:
    out = []
    for p in params:
        shape = tuple(int(d.value) for d in p.shape)
        if p.dtype.startswith("float"):
            out.append(rng.standard_normal(shape).astype(p.dtype))
        elif p.dtype == "bool":
            out.append(rng.random(shape) < 0.5)
        else:
            out.append(rng.integers(0, 8, shape).astype(p.dtype))
    return out


def _fmt_time(sec: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if sec >= scale:
            return f"{sec / scale:.3g} {unit}"
    return f"{sec / 1e-9:.3g} ns"


def _bench(args) -> int:
    import opcomp as oc
    mod, _, kwargs = _build(args)
    params = mod.signature.params
    inputs = _random_inputs([p for p in params if not p.is_output], np.random.default_rng(0))
    outputs = [np.empty(tuple(int(d.value) for d in p.shape), p.np_dtype)
               for p in params if p.is_output]
    arrays = _arrange(params, inputs, outputs)
    mod(*arrays)
    known = args.op in REFERENCES
    options = {k: v for k, v in kwargs.items() if k != "target"}
    rows = [("opcomp", oc.benchmark(mod, *arrays, repeat=args.repeat).median)]
    for impl, fn in (_implementations(args.op, inputs, options) if known else []):
        rows.append((impl, oc.benchmark(fn, repeat=args.repeat).median))
    _print_table(args, mod, rows, _work(args.op, args.sizes, options, params))
    want = _float64_reference(args.op, inputs, options) if known else None
    return 0 if _print_check(args.op, want, outputs) else 1


def _arrange(params, inputs, outputs) -> list:
    it_in, it_out = iter(inputs), iter(outputs)
    return [next(it_out) if p.is_output else next(it_in) for p in params]


def _print_table(args, mod, rows, work) -> None:
    import opcomp as oc
    amount, unit = work
    sizes = " ".join(map(str, args.sizes))
    print(f"{args.op} {sizes}: target {mod.target.brief}, {oc.runtime_threads()} threads")
    print(f"  {'impl':<8} {'median':>10} {unit:>9} {'opcomp speedup':>15}")
    ours = rows[0][1]
    for impl, t in rows:
        print(f"  {impl:<8} {_fmt_time(t):>10} {amount / t / 1e9:>9.1f} {t / ours:>14.2f}x")


def _print_check(op, want, outputs) -> bool:
    if want is None:
        print(f"  check: no NumPy/PyTorch reference for {op} (REFERENCES in schedules/cli.py); "
              "timing only")
        return True
    errs = [float(np.max(np.abs(o - w)) / max(float(np.max(np.abs(w))), 1e-30)) if o.size else 0.0
            for o, w in zip(outputs, want)]
    err = max(errs, default=0.0)
    tol = 1e-10 if all(o.dtype == np.float64 for o in outputs) else 1e-4
    ok = err <= tol
    print(f"  check: max relative error vs float64 reference {err:.1e} "
          f"({'ok' if ok else 'WRONG'})")
    return ok


# -- tune (the autotuner's command) -----------------------------------------------------------
def _tune_hook():
    """autotune.cli, the tuner's command: add_arguments(parser) and run(args) -> int.

    This is the hook for the autotune package: until it provides that module,
    `opcomp tune` parses the common arguments below and says the command is missing."""
    try:
        from autotune import cli
    except ImportError:
        return None
    return cli if hasattr(cli, "run") else None


def _tune(args) -> int:
    hook = _tune_hook()
    if hook is None:
        raise CLIError("tune: the autotuner's command is not available yet "
                       "(autotune.cli.run); tune from Python with autotune.tune(Task(...))")
    return hook.run(args)


def _add_tune_parser(sub) -> None:
    t = _op_parser(sub, "tune", "tune an op for this machine (trials, time budget, log)")
    hook = _tune_hook()
    if hook is not None and hasattr(hook, "add_arguments"):
        hook.add_arguments(t)
    else:
        t.add_argument("--trials", type=int, default=200, help="configurations to measure")
        t.add_argument("--time-budget", type=float, default=None, help="seconds, at most")
        t.add_argument("--log", default=None, help="tuning records (JSON lines), resumable")
    t.set_defaults(fn=_tune)


# -- demo ------------------------------------------------------------------------------------------
def _demo(args) -> int:
    import opcomp as oc
    import schedules
    n = args.size
    t0 = time.perf_counter()
    s, bufs = schedules.get("matmul")(n, n, n)
    mod = oc.build(s, bufs, target="llvm", name="matmul")
    build_ms = (time.perf_counter() - t0) * 1e3
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    c = np.empty((n, n), np.float32)
    mod(a, b, c)
    ref = a.astype(np.float64) @ b.astype(np.float64)
    err = float(np.max(np.abs(c - ref)) / np.max(np.abs(ref)))
    ok = err < 1e-5
    ours = oc.benchmark(mod, a, b, c).median
    theirs = oc.benchmark(lambda: np.matmul(a, b, out=c)).median
    gflops = 2 * n ** 3 / 1e9
    print(f"matmul {n}x{n}x{n} float32: built in {build_ms:.0f} ms, "
          f"max relative error vs float64 NumPy {err:.1e} ({'ok' if ok else 'WRONG'})")
    print(f"opcomp {gflops / ours:.0f} GFLOP/s, NumPy {gflops / theirs:.0f} GFLOP/s "
          f"(ratio {theirs / ours:.2f}x), {oc.runtime_threads()} threads")
    if os.environ.get("OPENBLAS_CORETYPE"):
        print(f"note: OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']} limits NumPy's OpenBLAS; "
              "`python -m bench.run` compares with its kernels for this CPU")
    return 0 if ok else 1


# -- the parser ------------------------------------------------------------------------------------
def _op_parser(sub, name: str, help_: str, aliases=()):
    p = sub.add_parser(name, help=help_, description=help_, aliases=list(aliases))
    p.add_argument("op", help="the op's name (see `opcomp list`)")
    p.add_argument("sizes", nargs="*", type=int, metavar="SIZE",
                   help="the op's sizes, in the order `opcomp list` gives")
    p.add_argument("-O", "--option", action="append", metavar="KEY=VALUE",
                   help="a keyword option of the op (repeatable), e.g. -O dtype=float64")
    return p


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="opcomp", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--traceback", action="store_true",
                   help="on failure, show the Python traceback instead of one line")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    ls = sub.add_parser("list", aliases=["ops"], help="list the library's ops and their sizes")
    ls.set_defaults(fn=_list)
    sh = _op_parser(sub, "show", "print an op's loop nest, LLVM IR, assembly or CUDA C")
    fmt = sh.add_mutually_exclusive_group()
    fmt.add_argument("--ir", action="store_true", help="the lowered loop nest (the default)")
    fmt.add_argument("--llvm", action="store_true", help="the LLVM IR")
    fmt.add_argument("--asm", action="store_true", help="the assembly")
    fmt.add_argument("--cuda", action="store_true", help="the CUDA C (a cuda target)")
    sh.set_defaults(fn=_show)
    b = _op_parser(sub, "bench", "time an op against NumPy and PyTorch, check its result")
    b.add_argument("--repeat", type=int, default=5, help="timed repeats (median reported)")
    b.set_defaults(fn=_bench)
    e = _op_parser(sub, "export", "write an op as a shared library and its C header")
    e.add_argument("-o", "--output", required=True, help="the library path, e.g. libmatmul.so")
    e.add_argument("--name", help="the C function's name (default: the op's name)")
    e.set_defaults(fn=_export)
    _add_tune_parser(sub)
    d = sub.add_parser("demo", help="build, check and time a matmul against NumPy")
    d.add_argument("--size", type=int, default=1024, help="M = N = K")
    d.set_defaults(fn=_demo)
    return p


def _one_line(exc: BaseException) -> str:
    msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    lines = str(msg).strip().splitlines() or [type(exc).__name__]
    more = " (--traceback for details)" if len(lines) > 1 else ""
    return lines[0] + more


def main(argv=None) -> int:
    """Run the command line; returns the exit status."""
    args = parser().parse_args(argv)
    try:
        return args.fn(args)
    except BrokenPipeError:         # `opcomp list | head`: the reader left; not an error
        sys.stderr.close()
        return 0
    except Exception as exc:        # noqa: BLE001 -- the command line reports, never dumps
        if args.traceback:
            raise
        kind = "" if isinstance(exc, (CLIError, KeyError, ValueError)) else \
            f"{type(exc).__name__}: "
        print(f"opcomp: error: {kind}{_one_line(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
