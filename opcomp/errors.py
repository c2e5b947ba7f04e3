"""The root of opcomp's errors: `except oc.OpcompError` catches every error opcomp raises on purpose.

Each error also derives from the built-in class it refines (ValueError for bad
schedules, tensors, arguments and targets; RuntimeError for export), so code
that catches those keeps working.  `oc.TVMError` is the same class under TVM's
name, for ported code that catches TVM's errors.
"""


class OpcompError(Exception):
    """Base class of ScheduleError, TensorError, ArgumentError, TargetError, ..."""
