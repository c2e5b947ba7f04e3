"""A template that takes a symbolic row count (module level: worker processes import it)."""
import opcomp as oc
from autotune import get_config, template

from .templates import matmul_compute


@template("test/rows_matmul")
def rows_matmul(M, N=24, K=16, dtype="float32"):
    """C = A @ B with M rows (an int, or a var when a range module is built)."""
    A, B, C = matmul_compute(M, N, K, dtype)
    s = oc.create_schedule(C)
    i, j = C.op.axis
    cfg = get_config()
    cfg.define_knob("tile_i", [1, 2, 4, 8])
    cfg.define_split("tile_j", N, num_outputs=2, policy="power2", max_factor=16)
    io, ii = s[C].split(i, factor=cfg["tile_i"].val)
    jo, ji = cfg["tile_j"].apply(s, C, j)
    (kk,) = C.op.reduce_axis
    s[C].reorder(io, jo, ii, kk, ji)
    s[C].vectorize(ji)
    return s, [A, B, C]


@template("test/rows_two_stage")
def rows_two_stage(M, K=16, dtype="float32"):
    """B = relu(A) kept in an M x K temporary (its allocation depends on M), C = B * 2."""
    A = oc.placeholder((M, K), dtype, name="A")
    B = oc.compute((M, K), lambda i, j: oc.maximum(A[i, j], oc.const(0, dtype)), name="B")
    C = oc.compute((M, K), lambda i, j: B[i, j] * 2.0, name="C")
    s = oc.create_schedule(C)
    cfg = get_config()
    cfg.define_knob("vec", [0, 1])
    if cfg["vec"].val:
        s[C].vectorize(C.op.axis[1])
    return s, [A, C]
