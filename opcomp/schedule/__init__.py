"""Schedules: stages and their loop primitives (stage.py), the replayable trace
of primitives (trace.py), and the graph rewrites: cache_read/cache_write
(cache_stage.py) and rfactor (rfactor.py); relations.py reads a stage's splits
and fuses both ways (extents down, root values up).  storage.py holds set_scope,
storage_align, double_buffer and pragma; group.py create_group; symbolic.py
split factors that are expressions over size vars."""
from .stage import (STORAGE_SCOPES, THREAD_TAGS, Fuse, Schedule, ScheduleError,  # noqa: F401
                    Split, Stage, ThreadAxis, create_schedule, thread_axis)
from .trace import Trace  # noqa: F401
from .group import Group  # noqa: F401
