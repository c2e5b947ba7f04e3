"""autotune: schedule templates with knobs, searched by measuring compiled candidates.

    from autotune import template, get_config, Task, tune, apply_history_best

    @template("my/matmul")
    def matmul(M, N, K, dtype="float32"):
        ...compute...
        cfg = get_config()
        cfg.define_split("tile_x", x, num_outputs=3)
        cfg.define_knob("unroll", [0, 1])
        ...cfg["tile_x"].apply(s, C, x)...
        return s, [A, B, C]

    task = Task("my/matmul", args=(1024, 1024, 1024), target="llvm")
    result = tune(task, trials=200, log="tune.jsonl")   # progress shown; resumable
    with apply_history_best("tune.jsonl"):
        s, args = matmul(1024, 1024, 1024)             # the best config is applied

The pieces, one module each:

    space, config   knobs (split, reorder, annotate, option) and their target-derived
                    defaults: the fallback configuration when no record exists
    template, task  the registry of templates by name, dispatch (apply_config,
                    apply_history_best), a Task = template + arguments + target
    records         the append-only JSON-lines log, keyed by task, target and workload
    to_python       a record as the Python schedule it stands for
    workers, jobs,  isolated processes with timeouts; parallel builds, one fresh
    measure         process per run, reference check, an error code per failure
    features, model loop-nest features and the NumPy cost model
    tuner, tune     random, grid and model-guided evolutionary search; budgets,
                    progress, the tuning curve
    cli             `opcomp tune OP SIZES...` (schedules/cli.py hands the command over)
    sketch,         template-free search: a space derived from the computation's
    auto_schedule   stage graph, tuned with the same search, records and measurement
    dispatch        tune_range: one module for a range of one size, dispatching at call
    dask_runner     builders and runners on a dask.distributed cluster

Layering: autotune imports opcomp and codegen, never schedules; the operator
library's templates are registered by ``import schedules``.
"""
from .config import Config  # noqa: F401
from .space import ConfigSpace, SpaceError, config_key  # noqa: F401
from .template import (TemplateError, apply_config, get_config, template)  # noqa: F401
from .task import Task  # noqa: F401
from .records import (ErrorCode, Record, RecordWarning, apply_history_best)  # noqa: F401
from .to_python import to_python  # noqa: F401
from .measure import MeasureOptions, Measurer  # noqa: F401
from .tuner import GridTuner, ModelTuner, RandomTuner, Tuner  # noqa: F401
from .tune import TuneResult, tune  # noqa: F401
from .auto_schedule import auto_schedule  # noqa: F401,E402
from .dispatch import tune_range  # noqa: F401,E402
