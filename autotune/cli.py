"""`opcomp tune OP SIZES...`: the autotuner's command (schedules/cli.py hands over to it).

    opcomp tune matmul 1024 1024 1024 --trials 64 --time-budget 180 --log w1.jsonl
    opcomp tune matmul 512 512 512 -O dtype=float64 --tuner random --show

The op names a tuning template (the library's ops register theirs under the op's
name); SIZES are its leading arguments and -O KEY=VALUE its keyword options.
Running the same command again with the same --log resumes: only the trials
not yet in the log are measured.  Prints the summary (best GFLOP/s, candidates
per minute, compile time per candidate, errors) and, with --show, the best
record's schedule as Python.
"""
from __future__ import annotations

import importlib

from .template import TemplateError, registered
from .to_python import to_python

LIBRARY = "schedules"        # registers the operator library's templates when imported


def add_arguments(parser) -> None:
    """The tune command's options (after OP SIZES... and -O, which the caller adds)."""
    parser.add_argument("--trials", type=int, default=64,
                        help="configurations in the log when done (resumed runs count theirs)")
    parser.add_argument("--time-budget", type=float, default=None, help="seconds, at most")
    parser.add_argument("--log", default=None, help="tuning records (JSON lines), resumable")
    parser.add_argument("--tuner", choices=("model", "random", "grid"), default="model")
    parser.add_argument("--early-stopping", type=int, default=None,
                        help="stop after this many trials without a new best")
    parser.add_argument("--validate", type=int, default=3,
                        help="measure this many of the best once more at the end")
    parser.add_argument("--target", default="llvm", help='e.g. "llvm -mcpu=znver3"')
    parser.add_argument("--plot", default=None, help="write the tuning curve to this PNG")
    parser.add_argument("--show", action="store_true",
                        help="print the best record's schedule as Python")


def option_value(text: str):
    """A command-line option value: int, float, true/false/none, else the string."""
    low = text.lower()
    if low in ("true", "false", "none"):
        return {"true": True, "false": False, "none": None}[low]
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_options(pairs) -> dict:
    """KEY=VALUE strings -> keyword arguments (ValueError names a malformed one)."""
    out = {}
    for pair in pairs or ():
        key, eq, value = pair.partition("=")
        if not eq or not key.isidentifier():
            raise ValueError(f"option {pair!r} must be KEY=VALUE, e.g. dtype=float64")
        out[key] = option_value(value)
    return out


def _template_name(op: str) -> str:
    if op not in registered():
        # The command line sits above every package; the library is found by name.
        importlib.import_module(LIBRARY)
    if op not in registered():
        raise TemplateError(f"tune: {op!r} has no tuning template (templates: "
                            f"{', '.join(registered()) or 'none'})")
    return op


def run(args) -> int:
    """Tune the op named on the command line; exit status 0 when a configuration ran."""
    from .task import Task
    from .tune import tune
    options = parse_options(getattr(args, "option", None))
    if "target" in options:
        raise ValueError("tune: give the target as --target, not -O target=...")
    task = Task(_template_name(args.op), tuple(args.sizes), options, target=args.target)
    result = tune(task, trials=args.trials, log=args.log, tuner=args.tuner,
                  time_budget=args.time_budget, early_stopping=args.early_stopping,
                  plot=args.plot, validate=args.validate)
    print(result.summary())
    if args.plot:
        print(f"tuning curve: {args.plot}")
    if args.show and result.best is not None:
        print(to_python(result.best))
    return 0 if result.best is not None else 1
