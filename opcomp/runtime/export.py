"""Exported libraries: a compiled kernel as a shared library plus a C header.

``export_library(mod, "libmatmul.so")`` writes

- ``libmatmul.so``: the kernel's object code, the thread pool's object code
  when the kernel has parallel loops (it calls ``opcomp_parallel_for``), and
  the signature metadata, linked by the system C compiler (``cc``/``gcc``);
- ``libmatmul.h``: ``int32_t matmul(const float* A, const float* B, float* C,
  int64_t n);`` with comments giving each parameter's shape.

The metadata lives inside the library, so the .so alone is enough for
``load_module``: a NUL-terminated JSON string in the data symbol
``opcomp_meta_<name>`` (``const char[]``) with the kernel name, target,
parameters (name, dtype, shape, output or not), size variables, assertion
messages and the loop IR text.  Shape entries are JSON ints, ``{"var": name}``,
``{"op": "add"|"sub"|"mul"|"floordiv"|"floormod"|"min"|"max", "args": [a, b]}``
or ``{"cast": dtype, "arg": x}``.

Calling convention (C and Python alike): one pointer per parameter to
C-contiguous row-major elements, then one int64_t per size variable; the
kernel returns 0, k > 0 when its k-th runtime assertion failed, or
OUT_OF_MEMORY (-1) when a temporary buffer could not be allocated.
"""
from __future__ import annotations

import ctypes
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..abi import META_SYMBOL
from ..backend import ExportError, get_backend  # noqa: F401 (ExportError: API)
from ..dtype import SCALARS
from ..ir import expr as E
from ..ir import tir as T
from ..ir.visit import walk
from ..passes.bounds_check import assert_messages
from ..target import Target
from ..version import __version__

META_FORMAT = "opcomp-kernel"
META_VERSION = 1
C_TYPES = {"float32": "float", "float64": "double", "int8": "int8_t", "int16": "int16_t",
           "int32": "int32_t", "int64": "int64_t", "uint8": "uint8_t",
           "uint16": "uint16_t", "uint32": "uint32_t", "uint64": "uint64_t",
           "bool": "uint8_t", "float16": "uint16_t", "bfloat16": "uint16_t"}
_C_NOTES = {"bool": "bool stored as one byte, 0 or 1",
            "float16": "IEEE half precision, raw bits",
            "bfloat16": "bfloat16 (a float's top 16 bits), raw bits"}
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_BINOPS = ("add", "sub", "mul", "floordiv", "floormod", "min", "max")


# -- metadata ------------------------------------------------------------------
def _dim_json(e):
    if isinstance(e, E.Const) and isinstance(e.value, int):
        return int(e.value)
    if isinstance(e, E.Var):
        return {"var": e.name}
    if isinstance(e, E.Binary) and e.op in _BINOPS:
        return {"op": e.op, "args": [_dim_json(e.a), _dim_json(e.b)]}
    if isinstance(e, E.Cast):
        return {"cast": e.dtype, "arg": _dim_json(e.value)}
    raise ExportError(f"shape expression {e} cannot be exported")


def written_buffers(func: T.PrimFunc) -> set:
    """The parameter buffers that the function body stores into (its outputs)."""
    out = set()
    walk(func.body, lambda n: out.add(n.buffer) if isinstance(n, T.Store) else None)
    return {b for b in func.params if b in out}


def metadata_of(func: T.PrimFunc, target) -> dict:
    """The JSON-able signature of a lowered function (outputs: the buffers it stores to):
    enough to rebuild its argument checks."""
    outputs = written_buffers(func)
    meta = {"format": META_FORMAT, "version": META_VERSION, "opcomp": __version__,
            "name": func.name, "target": str(target),
            "params": [{"name": b.name, "dtype": b.dtype, "output": b in outputs,
                        "shape": [_dim_json(x) for x in b.shape]} for b in func.params],
            "size_vars": [{"name": v.name, "dtype": v.dtype} for v in func.size_vars],
            "asserts": assert_messages(func), "tir": str(func)}
    if func.attr("emulate"):
        meta["emulate"] = True          # a GPU kernel compiled for this CPU's emulator
    if func.attr("scalar_args"):        # size vars given by value: [position, name]
        meta["scalar_args"] = [[pos, v.name] for pos, v in func.attr("scalar_args")]
    return meta


def _bad(msg: str):
    return ValueError(f"opcomp metadata: {msg}")


def _dim_from_json(j, vars_: dict):
    if isinstance(j, int) and not isinstance(j, bool):
        return E.const(j, "int32" if -2**31 <= j < 2**31 else "int64")
    if not isinstance(j, dict):
        raise _bad(f"bad shape entry {j!r}")
    if set(j) == {"var"} and j["var"] in vars_:
        return vars_[j["var"]]
    if set(j) == {"op", "args"} and j["op"] in _BINOPS and isinstance(j["args"], list) \
            and len(j["args"]) == 2:
        a, b = (_dim_from_json(x, vars_) for x in j["args"])
        return E.binary(j["op"], a, b)
    if set(j) == {"cast", "arg"} and j["cast"] in SCALARS:
        return E.cast(_dim_from_json(j["arg"], vars_), j["cast"])
    raise _bad(f"bad shape entry {j!r}")


def _check_meta(meta) -> None:
    if not isinstance(meta, dict) or meta.get("format") != META_FORMAT:
        raise _bad("not an opcomp kernel description")
    if meta.get("version") != META_VERSION:
        raise _bad(f"version {meta.get('version')!r}, this opcomp reads {META_VERSION}")
    if not (isinstance(meta.get("name"), str) and _IDENT.match(meta["name"])):
        raise _bad(f"bad kernel name {meta.get('name')!r}")
    if not isinstance(meta.get("params"), list) or not isinstance(meta.get("size_vars"), list):
        raise _bad("params and size_vars must be lists")
    if not isinstance(meta.get("asserts", []), list) or not isinstance(meta.get("tir", ""), str):
        raise _bad("asserts must be a list and tir a string")
    for p in meta["params"]:
        if not (isinstance(p, dict) and isinstance(p.get("name"), str)
                and p.get("dtype") in SCALARS and isinstance(p.get("shape"), list)
                and isinstance(p.get("output"), bool)):
            raise _bad(f"bad parameter {p!r}")
    for v in meta["size_vars"]:
        if not (isinstance(v, dict) and isinstance(v.get("name"), str) and v.get("dtype") in SCALARS):
            raise _bad(f"bad size variable {v!r}")


def func_from_metadata(meta: dict, origin: str) -> T.PrimFunc:
    """A PrimFunc with the signature of the metadata and an empty body (code is in the .so)."""
    _check_meta(meta)
    vars_ = {v["name"]: E.Var(v["name"], v["dtype"]) for v in meta["size_vars"]}
    params = tuple(T.Buffer(p["name"], p["dtype"],
                            tuple(_dim_from_json(d, vars_) for d in p["shape"]))
                   for p in meta["params"])
    attrs = (("target", meta.get("target", "llvm")), ("loaded_from", origin))
    if meta.get("emulate") is True:
        attrs += (("emulate", True),)
    scalars = meta.get("scalar_args", [])
    if not (isinstance(scalars, list) and all(
            isinstance(s, list) and len(s) == 2 and isinstance(s[0], int) and s[1] in vars_
            for s in scalars)):
        raise _bad(f"bad scalar_args {scalars!r}")
    if scalars:
        attrs += (("scalar_args", tuple((pos, vars_[name]) for pos, name in scalars)),)
    return T.PrimFunc(meta["name"], params, T.Nop(), tuple(vars_.values()), attrs)


def _c_string(data: bytes) -> str:
    """A C string literal for arbitrary bytes (octal escapes; no trigraphs, no ambiguity)."""
    ok = set(range(0x20, 0x7f)) - {ord('"'), ord("\\"), ord("?")}
    chunks = ["".join(chr(b) if b in ok else f"\\{b:03o}" for b in data[i:i + 80])
              for i in range(0, len(data), 80)]
    return "\n".join(f'    "{c}"' for c in chunks) or '    ""'


def _meta_c(mod) -> str:
    # The artifact carries the signature oc.compile wrote (metadata_of).
    blob = json.dumps(json.loads(mod.artifact.meta), sort_keys=True).encode()
    return (f"/* opcomp signature metadata for {mod.name}, read by opcomp.load_module */\n"
            f"__attribute__((visibility(\"default\"), used))\n"
            f"const char {META_SYMBOL.format(name=mod.name)}[] =\n{_c_string(blob)};\n")


# -- header --------------------------------------------------------------------
_C_KEYWORDS = {"auto", "break", "case", "char", "const", "continue", "default", "do", "double",
               "else", "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long",
               "register", "restrict", "return", "short", "signed", "sizeof", "static",
               "struct", "switch", "typedef", "union", "unsigned", "void", "volatile", "while"}


def _c_name(name: str) -> str:
    """A parameter name usable in C (names only document; the ABI is positional)."""
    out = re.sub(r"[^A-Za-z0-9_]", "_", name)
    out = "_" + out if not out or out[0].isdigit() else out
    return out + "_" if out in _C_KEYWORDS else out


def c_header(mod) -> str:
    """The C declaration of the kernel, with each parameter's dtype and shape as comments."""
    sig, name = mod.signature, mod.name
    guard = f"OPCOMP_{name.upper()}_H"
    args, notes = [], []
    for p in sig.params:
        const = "" if p.is_output else "const "
        args.append(f"{const}{C_TYPES[p.dtype]}* {_c_name(p.name)}")
        role = "output, written in place" if p.is_output else "input"
        extra = f"; {_C_NOTES[p.dtype]}" if p.dtype in _C_NOTES else ""
        notes.append(f" *   {p.name}: {p.dtype}{p.shape_str()}, {role}{extra}")
    binding = {b.var: b for b in sig.bindings}
    for v in sig.size_vars:
        args.append(f"int64_t {_c_name(v.name)}")
        if v not in binding:        # a scalar argument: the caller gives its value
            notes.append(f" *   {v.name}: scalar argument (passed as int64_t; must fit {v.dtype})")
            continue
        b = binding[v]
        p = sig.params[b.param]
        where = f"{p.name}.shape[{b.dim}]"
        where = f"= {where}" if (b.scale, b.offset) == (1, 0) else f"where {where} = {p.shape[b.dim]}"
        notes.append(f" *   {v.name}: size {where} (passed as int64_t; must fit {v.dtype})")
    decl = f"int32_t {name}({', '.join(args) or 'void'});"
    return "\n".join([
        f"/* {name}: generated by opcomp for target {mod.target}.",
        " * Arrays are C-contiguous, row-major; outputs are written in place.",
        " * Returns 0 on success, k > 0 when the kernel's k-th runtime check failed,",
        " * -1 when a temporary buffer could not be allocated (out of memory).",
        " * Parameters:", *notes, " */",
        f"#ifndef {guard}", f"#define {guard}", "#include <stdint.h>",
        "#ifdef __cplusplus", 'extern "C" {', "#endif", "", decl, "",
        "#ifdef __cplusplus", "}", "#endif", f"#endif  /* {guard} */", ""])


# -- linking -------------------------------------------------------------------
def _c_compiler() -> str:
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        found = name and shutil.which(name)
        if found:
            return found
    raise ExportError("export_library needs a C compiler to link the shared library: "
                      "none of $CC, cc, gcc, clang was found on PATH")


def _objects(mod) -> list:
    """(file name, bytes) of the object files to link: the kernel, its runtime if used."""
    backend = get_backend(mod.target.kind)
    objects = getattr(backend, "objects", None)
    out = objects(mod.artifact.kernel, mod.target) if objects else []
    if not out:
        raise ExportError(f"module {mod.name} has no object code to export "
                          f"(target {mod.target.kind})")
    return out


def _link(cc: str, out: Path, inputs: list) -> None:
    cmd = [cc, "-shared", "-fPIC", "-o", str(out), *map(str, inputs), "-lpthread", "-lm"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode:
        raise ExportError(f"linking {out.name} failed ({' '.join(cmd)}):\n{res.stderr.strip()}")


def _extern_link_inputs(mod) -> list:
    """Libraries whose functions the kernel calls (extern stages, tensorize): linked
    by path, with their folder on the run path, so the export finds them at load."""
    from ..extern import LibraryError, extern_symbols, libraries_for
    ir_text = getattr(mod.artifact.kernel, "ir", "") or ""
    try:
        libs = libraries_for(extern_symbols(ir_text))
    except LibraryError as e:
        raise ExportError(f"export_library: {e}") from None
    return [arg for lib in libs for arg in (lib, f"-Wl,-rpath,{os.path.dirname(lib)}")]


def export_library(mod, path) -> str:
    """Write `path` (a shared library) and the C header beside it; returns str(path)."""
    if mod.artifact is None:
        raise ExportError(f"module {mod.name} was loaded from {mod.library}; export the "
                          "module that build() returned, or copy that library")
    if not _IDENT.match(mod.name):
        raise ExportError(f"kernel name {mod.name!r} is not a C identifier; build it with "
                          "name= letters, digits and underscores")
    path = Path(path).resolve()
    cc = _c_compiler()
    with tempfile.TemporaryDirectory(prefix="opcomp-export-") as tmp:
        inputs = []
        for fname, data in _objects(mod):
            (Path(tmp) / fname).write_bytes(data)
            inputs.append(Path(tmp) / fname)
        inputs += _extern_link_inputs(mod)
        (Path(tmp) / "meta.c").write_text(_meta_c(mod))
        inputs.append(Path(tmp) / "meta.c")
        # Export only the kernel and its metadata: the thread pool stays private, so
        # two opcomp libraries in one program never interpose each other's pool.
        (Path(tmp) / "exports.map").write_text(
            f"{{ global: {mod.name}; {META_SYMBOL.format(name=mod.name)}; local: *; }};\n")
        inputs.append(f"-Wl,--version-script={Path(tmp) / 'exports.map'}")
        staged = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            _link(cc, staged, inputs)
            os.replace(staged, path)    # a process that mapped the old file keeps it
        finally:
            staged.unlink(missing_ok=True)
    path.with_suffix(".h").write_text(c_header(mod))
    return str(path)


# -- loading -------------------------------------------------------------------
class LibraryKernel:
    """A kernel function in a loaded shared library (the library stays loaded with it)."""

    def __init__(self, lib, name: str, n_buffers: int, n_sizes: int):
        self.lib = lib
        self.fn = getattr(lib, name)
        self.fn.restype = ctypes.c_int32
        self.fn.argtypes = [ctypes.c_void_p] * n_buffers + [ctypes.c_int64] * n_sizes
        self.address = ctypes.cast(self.fn, ctypes.c_void_p).value

    def __call__(self, *raw):
        return self.fn(*raw)


def _meta_symbols(path: Path) -> list:
    # The symbol names sit NUL-terminated in the library's string tables.
    found = re.findall(rb"\x00opcomp_meta_([A-Za-z_][A-Za-z0-9_]*)\x00", path.read_bytes())
    return sorted({f.decode() for f in found})


def _read_meta(lib, path: Path, name) -> dict:
    names = [name] if name else _meta_symbols(path)
    if len(names) != 1:
        what = "no opcomp kernel metadata" if not names else f"several kernels ({', '.join(names)})"
        raise ValueError(f"load_module: {path} has {what}; "
                         + ("pass name=" if names else "was it written by export_library?"))
    try:
        addr = ctypes.addressof(ctypes.c_char.in_dll(lib, META_SYMBOL.format(name=names[0])))
    except ValueError as exc:
        raise ValueError(f"load_module: {path} has no kernel {names[0]!r} ({exc})") from None
    try:
        return json.loads(ctypes.string_at(addr).decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"load_module: malformed metadata in {path}: {exc}") from None


def load_module(path, name: str = None):
    """A Module for a library written by export_library (same call semantics and checks).

    name: the kernel, when the library holds several.  The library's loop IR
    is available as source("tir"); its LLVM IR and assembly are not kept.
    Note: the dynamic loader caches libraries by path, so re-exporting over a
    path already loaded in this process still gives the first library.
    """
    from .module import Module
    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"load_module: no such library: {path}")
    lib = ctypes.CDLL(str(path))
    meta = _read_meta(lib, path, name)
    _check_meta(meta)
    kernel = LibraryKernel(lib, meta["name"], len(meta["params"]), len(meta["size_vars"]))
    return Module.from_metadata(meta, kernel, None, Target(meta.get("target", "llvm")),
                                library=str(path))
