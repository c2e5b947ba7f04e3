"""opcomp: define an operator once, schedule its loops, compile it for CPU or GPU.

    import opcomp as oc
    A = oc.placeholder((n, n), name="A")
    ...
    s = oc.create_schedule(C)
    mod = oc.build(s, [A, B, C], target="llvm")
    mod(a, b, c)
"""
from .ir.expr import IterVar, Var, const, maximum, minimum, select  # noqa: F401
from .te import (TensorError, compute, placeholder, reduce_axis, var,  # noqa: F401
                 size_var, Tensor)
from .te import sum, prod, max, min  # noqa: F401,A004
from .intrin import (abs, ceil, erf, exp, floor, log, power, rsqrt,  # noqa: F401,A004
                     sigmoid, sqrt, tanh)
from .schedule import (Schedule, ScheduleError, Stage, Trace, create_schedule,  # noqa: F401
                       thread_axis)
from .target import Target, TargetError, parse_target  # noqa: F401
from .lower import lower  # noqa: F401
from .infer_bound import infer_bound  # noqa: F401
from .runtime import ArgumentError, Module, benchmark, load_module  # noqa: F401
from .build import Artifact, build, compile, runtime_threads  # noqa: F401,A004
from .backend import get_backend, register_backend  # noqa: F401
from .workload import workload_key  # noqa: F401
from .autodiff import GradientError, gradient  # noqa: F401
from .frameworks import torch_op  # noqa: F401  (imports torch only when called)
from .version import __version__  # noqa: F401
