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
from .te import comm_reducer, min_value, max_value  # noqa: F401
from .intrin import (floordiv, floormod, truncdiv, truncmod, shift_left, shift_right,  # noqa: F401
                     bitwise_and, bitwise_or, bitwise_xor, bitwise_not, popcount,
                     if_then_else)
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
from .extern import call_extern, decl_buffer, extern, load_library  # noqa: F401
from .scan import scan  # noqa: F401
from .packed import call_packed, register_func  # noqa: F401
from .tensor_intrin import decl_tensor_intrin, get_tensor_intrin  # noqa: F401
from .version import __version__  # noqa: F401
# TVM's runtime and container spellings, beside ours (README "TVM spellings")
from .errors import OpcompError  # noqa: F401
from .errors import OpcompError as TVMError  # noqa: F401
from .convert import Map, convert  # noqa: F401
from .infer_bound import infer_bound as InferBound  # noqa: F401
from .ir.expr import Expr as PrimExpr  # noqa: F401
from .ir.visit import substitute  # noqa: F401
from .schedule.stage import Fuse, Singleton, Split  # noqa: F401
from .te import ComputeOp, PlaceholderOp  # noqa: F401
from .runtime import nd  # noqa: F401
from .runtime.nd import Device, cpu, cuda, device, enabled  # noqa: F401
from .ir.expr import select as Select  # noqa: F401  (TVM's tir.Select(cond, t, f))
from .serialize import SerializeError, load_json, save_json  # noqa: F401
from .op_attrs import tag_scope  # noqa: F401  (TVM: with oc.tag_scope(tag="gemm"))
from .scan import ScanOp  # noqa: F401  (TVM: one op per scan, value_index per state)
from .extern import DeclBuffer as Buffer, build_config  # noqa: F401  (TVM's tir.Buffer, build_config)
# TVM's schedule introspection and graph utilities (README, same-named section)
from .introspect import (AutoInlineElemWise, AutoInlineInjective, CreateAttachPath,  # noqa: F401
                         CreateReadGraph, PostDFSOrder, ScanFixPointAnalysis, ScanGetBody,
                         ScheduleOps, SchedulePostProcToPrimFunc)
from .ir.tir import PrimFunc  # noqa: F401
from .ir.expr import Call  # noqa: F401  (TVM's tir.Call: opcomp's intrinsic call node)
from .ir.visit import post_order_visit  # noqa: F401
# TVM's imperative IR construction and tensor compute ops (opcomp/ir_builder.py, tensor_compute.py)
from . import ir_builder  # noqa: F401  (oc.ir_builder.create(), as TVM's tvm.tir.ir_builder)
from .ir.tir import Evaluate  # noqa: F401  (TVM's tir.Evaluate: a call run for its effect)
from .tensor_intrin import TensorIntrin  # noqa: F401
from .tensor_compute import TensorComputeOp  # noqa: F401
from .intrin import floordiv as indexdiv, floormod as indexmod  # noqa: F401  (TVM's index division)
# the loop IR's statement nodes under TVM's tir names, for post_order_visit callbacks
from .ir.tir import Allocate, For, IfThenElse, LetStmt, Seq, Store  # noqa: F401
