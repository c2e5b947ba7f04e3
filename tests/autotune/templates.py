"""Small templates for the autotune tests (module level: worker processes import them)."""
import opcomp as oc
from autotune import get_config, template


def matmul_compute(M, N, K, dtype="float32") -> tuple:
    """A (M, K), B (K, N) and C = A @ B, unscheduled (M may be a var)."""
    A = oc.placeholder((M, K), dtype, name="A")
    B = oc.placeholder((K, N), dtype, name="B")
    k = oc.reduce_axis(K, "k")
    C = oc.compute((M, N), lambda i, j: oc.sum(A[i, k] * B[k, j], axis=k), name="C")
    return A, B, C


@template("test/matmul")
def small_matmul(M, N, K, dtype="float32"):
    A, B, C = matmul_compute(M, N, K, dtype)
    s = oc.create_schedule(C)
    i, j = C.op.axis
    cfg = get_config()
    cfg.define_split("tile_i", i, num_outputs=2, policy="factors")
    cfg.define_split("tile_j", j, num_outputs=2, policy="power2", max_factor=16)
    cfg.define_knob("order", ["ijk", "ikj"])
    cfg.define_annotate("vec", [j], policy="vectorize")
    io, ii = cfg["tile_i"].apply(s, C, i)
    jo, ji = cfg["tile_j"].apply(s, C, j)
    (kk,) = C.op.reduce_axis
    if cfg["order"].val == "ijk":
        s[C].reorder(io, jo, ii, kk, ji)
    else:
        s[C].reorder(io, jo, kk, ii, ji)
    cfg["vec"].apply(s, C, [ji])
    return s, [A, B, C]


FAULTS = ["none", "segfault", "abort", "hang", "memory", "wrong", "bad_schedule",
          "build_hang", "build_crash"]


@template("test/faulty")
def faulty(n=16):
    """A tiny copy-add whose "fault" knob plants a failure (see faults.py)."""
    A = oc.placeholder((n,), "float32", name="A")
    B = oc.compute((n,), lambda i: A[i] * 2.0 + 1.0, name="B")
    s = oc.create_schedule(B)
    cfg = get_config()
    cfg.define_knob("fault", FAULTS)
    cfg.define_knob("unroll", [0, 1])
    (i,) = B.op.axis
    if cfg["fault"].val == "bad_schedule":
        s[B].vectorize(i)
        s[B].split(i, factor=4)          # an annotated axis cannot be split: ScheduleError
    if cfg["unroll"].val:
        s[B].unroll(i)
    return s, [A, B]
