"""Code generators: importing this package registers the built-in backends with opcomp.build."""
from . import llvm
from .llvm import LLVMBackend  # noqa: F401


def _register() -> None:
    # opcomp.build is written alongside this package; tolerate an older tree without it.
    try:
        from opcomp.build import register_backend
    except (ImportError, AttributeError):
        return
    register_backend("llvm", llvm.LLVMBackend())


_register()
