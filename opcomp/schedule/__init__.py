"""Schedules: stages and their loop primitives (stage.py), the replayable trace
of primitives (trace.py), and the cache_read/cache_write rewrites (cache_stage.py)."""
from .stage import (STORAGE_SCOPES, THREAD_TAGS, Fuse, Schedule, ScheduleError,  # noqa: F401
                    Split, Stage, ThreadAxis, create_schedule, thread_axis)
from .trace import Trace  # noqa: F401
