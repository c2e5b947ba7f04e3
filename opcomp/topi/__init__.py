"""TVM's ``topi`` namespace, as far as the tensor-expression language needs it.

opcomp's operator library is the top-level ``schedules`` package (computes and
their schedules for each target); ``opcomp.topi`` holds only the tag vocabulary
that computes carry in ``op.tag`` (``oc.compute(..., tag=...)``), so that code
written against ``tvm.topi.tag`` reads the same tags.
"""
from . import tag  # noqa: F401
