"""The runtime: a compiled kernel as a callable Module (module.py), argument
checking (args.py), timing (bench.py), shared libraries and their C headers
(export.py)."""
from .args import ArgumentError  # noqa: F401
from .bench import BenchmarkResult, benchmark  # noqa: F401
from .export import ExportError, export_library, load_module  # noqa: F401
from .module import Module  # noqa: F401
