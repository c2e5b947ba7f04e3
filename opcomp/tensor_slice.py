"""Tensor slices, A[i, 0:16]: regions of a tensor, the arguments of a tensor
intrinsic called inside oc.compute (opcomp/tensor_compute.py).

TVM's semantics: lo:hi is the range [lo, hi) (lo and hi may be expressions
over the compute's index variables), a plain index is a range of one, and
dimensions left out at the end are whole.  te.py's Tensor.__getitem__ makes a
TensorSlice when an index is a slice; this module imports nothing of te, so
te may call it (duck typing: it uses the tensor's shape and _index only).
"""
from __future__ import annotations

from .ir import expr as E

__all__ = ["NotAValue", "TensorSlice", "slice_tensor"]


class NotAValue:
    """An indexing result that is not a value yet (a region, a partial index):
    arithmetic on it raises what its _as_expr says."""

    def _as_expr(self):
        raise NotImplementedError

    def _no_arith(self, *_):
        self._as_expr()

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _no_arith
    __truediv__ = __rtruediv__ = __floordiv__ = __mod__ = __neg__ = _no_arith


class TensorSlice(NotAValue):
    """T[i, lo:hi]: region holds (min, extent) per dimension of T."""

    def __init__(self, tensor, indices):
        self.tensor, self.indices = tensor, tuple(indices)
        region = [_range(tensor, k, i) for k, i in enumerate(self.indices)]
        self.region = tuple(region + [(E.const(0), s) for s in tensor.shape[len(region):]])

    def _as_expr(self):
        # a region where a value is needed (A[0:4] + 1.0, oc.exp(A[i, 0:4]))
        raise E.TensorError(f"tensor slice {self!r} is a region, an argument of a tensor "
                            "intrinsic; index it with integers to read one element")

    def __repr__(self):
        return f"{self.tensor.name}[{', '.join(map(_index_str, self.indices))}]"


def _index_str(i) -> str:
    if isinstance(i, slice):
        return f"{'' if i.start is None else i.start}:{'' if i.stop is None else i.stop}"
    return str(i)


def slice_tensor(tensor, indices) -> TensorSlice:
    """Tensor.__getitem__ with a slice among the indices."""
    if len(indices) > len(tensor.shape):
        raise tensor._rank_error(indices)
    return TensorSlice(tensor, indices)


def _range(tensor, k, index) -> tuple:
    if not isinstance(index, slice):
        return tensor._index(index), E.const(1)
    if index.step is not None:
        raise E.TensorError(f"tensor {tensor.name}: slice {_index_str(index)} of dimension {k} "
                            "has a step; a tensor intrinsic reads contiguous regions (lo:hi)")
    lo = E.const(0) if index.start is None else tensor._index(index.start)
    hi = tensor.shape[k] if index.stop is None else tensor._index(index.stop)
    from .arith.simplify import simplify_expr
    return lo, simplify_expr(hi - lo)
