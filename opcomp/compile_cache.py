"""Compile cache: the same lowered function for the same target compiles once.

The key is a sha256 over everything that decides the generated code:

- the printed function (``str(func)``) and a structural fingerprint of it,
  which adds what the printer leaves out (every dtype, which variable is
  which, buffer scopes, loop kinds, the size variables);
- ``repr(func.attrs)`` and the canonical target string ``str(target)``, which
  spells the CPU, its features, vector width, cores and caches (opcomp/target.py);
- opcomp's version, the backend's toolchain (``backend.toolchain()``: llvmlite's
  and LLVM's versions) and a hash of the backend's own source files, so a
  changed code generator never reuses old objects.

Two layers: a bounded in-process dict, then a directory on disk,
``$OPCOMP_CACHE_DIR`` (default ``~/.cache/opcomp``; ``OPCOMP_CACHE_DIR=off``
turns the disk layer off)::

    v2/secret                       32 random bytes, mode 0600 (see cache_trust.py)
    v2/<key[:2]>/<key>/meta.json    {"schema": 2, "key": ..., "artifact": ..., "mac": ...,
                                     "fields": {...}, "blobs": {field: {file, size, sha256}}}
    v2/<key[:2]>/<key>/<field>.bin  raw bytes of each text/bytes field (IR, asm, object)

An entry is written into a temporary directory beside its final place (each
file fsync'ed) and renamed into place in one step: readers see a whole entry
or none.  Cache files are treated as untrusted input: nothing is unpickled,
files are read only if they are regular files (no symlinks), meta.json is
schema-checked and must carry the HMAC of this user's cache secret, the key and
every blob's size and sha256 must match; anything wrong is reported with
``warnings.warn``, the entry is removed and the function compiled again.  A
secret that others can read turns the disk layer off (with a warning).

The backend decides what an artifact is: it must be a dataclass whose fields
are str, bytes, int, float, bool, None or tuples of those, and the backend
rebuilds one with ``backend.artifact_from_fields(**fields)`` (or, failing
that, ``backend.artifact_type(**fields)``).  Without either, only the
in-memory layer is used.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import sys
import tempfile
import threading
import warnings
from collections import OrderedDict
from pathlib import Path

from .ir import expr as E
from .cache_trust import (META_LIMIT, UntrustedEntry, check_mac, entry_mac, load_secret,
                          read_regular)
from .ir import tir as T
from .version import __version__

SCHEMA = 2                    # 2: entries carry an HMAC (cache_trust.py)
MEMORY_ENTRIES = 512          # artifacts are tens of KB; autotuning builds thousands
_memory: "OrderedDict[str, object]" = OrderedDict()
_lock = threading.Lock()
stats = {"memory_hits": 0, "disk_hits": 0, "misses": 0, "disk_rejected": 0}
_SCALAR = (str, bytes, int, float, bool, type(None))


class CacheWarning(UserWarning):
    """A disk cache entry was unusable (and has been replaced by a fresh compile)."""


def clear_memory_cache() -> None:
    """Forget the in-process artifacts and zero `stats` (the disk cache is kept)."""
    with _lock:
        _memory.clear()
    for k in stats:
        stats[k] = 0


def cache_dir():
    """The disk cache directory (a Path), or None when OPCOMP_CACHE_DIR=off."""
    env = os.environ.get("OPCOMP_CACHE_DIR", "")
    if env.strip().lower() in ("off", "0", "none", "false"):
        return None
    base = Path(env).expanduser() if env else Path.home() / ".cache" / "opcomp"
    return base / f"v{SCHEMA}"


def compile_cached(func: T.PrimFunc, target, backend):
    """backend.compile(backend.render(func, target), target), memoized in memory and on disk."""
    key = cache_key(func, target, backend)
    with _lock:
        if key in _memory:
            _memory.move_to_end(key)
            stats["memory_hits"] += 1
            return _memory[key]
    artifact = _load_disk(key, backend)
    if artifact is not None:
        stats["disk_hits"] += 1
    else:
        stats["misses"] += 1
        artifact = backend.compile(backend.render(func, target), target)
        _store_disk(key, artifact)
    _remember(key, artifact)
    return artifact


def _remember(key: str, artifact) -> None:
    with _lock:
        _memory[key] = artifact
        while len(_memory) > MEMORY_ENTRIES:
            _memory.popitem(last=False)


# -- the key --------------------------------------------------------------------
def cache_key(func: T.PrimFunc, target, backend) -> str:
    """The hex sha256 naming this (function, target, toolchain) combination."""
    h = hashlib.sha256()
    for part in (str(func), fingerprint(func), repr(func.attrs), str(target),
                 _toolchain(backend), _backend_hash(backend)):
        h.update(part.encode())
        h.update(b"\x00")
    return h.hexdigest()


def fingerprint(func: T.PrimFunc) -> str:
    """A canonical text of the whole function: every field, identities numbered."""
    ids: dict = {}
    out: list = []

    def ident(v, describe):
        n = ids.get(id(v))
        if n is None:
            n = ids[id(v)] = len(ids)
            out.append(f"#{n}=")
            describe()
        else:
            out.append(f"#{n}")

    def go(v):
        if isinstance(v, E.Var):
            ident(v, lambda: out.append(f"Var({v.name!r},{v.dtype})"))
        elif isinstance(v, T.Buffer):
            ident(v, lambda: (out.append(f"Buffer({v.name!r},{v.dtype},{v.scope},"), go(v.shape), out.append(")")))
        elif isinstance(v, E.Node):
            out.append(type(v).__name__ + "(")
            for f in E.field_names(v):
                go(getattr(v, f))
                out.append(",")
            out.append(")")
        elif isinstance(v, (tuple, list)):
            out.append("[")
            for x in v:
                go(x)
                out.append(",")
            out.append("]")
        else:
            out.append(repr(v))

    go((func.name, func.params, func.size_vars, func.body, func.attrs))
    return "".join(out)


_BACKEND_HASHES: dict = {}


def _toolchain(backend) -> str:
    tools = getattr(backend, "toolchain", None)
    return f"opcomp {__version__} {tools() if tools else type(backend).__name__}"


def _backend_hash(backend) -> str:
    """sha256 of the backend's package sources (so editing the code generator invalidates)."""
    cls = type(backend)
    if cls not in _BACKEND_HASHES:
        h = hashlib.sha256(f"{cls.__module__}.{cls.__qualname__}".encode())
        mod_file = getattr(sys.modules.get(cls.__module__), "__file__", None)
        if mod_file:
            for p in sorted(Path(mod_file).parent.glob("*.py")):
                h.update(p.name.encode() + b"\x00" + p.read_bytes())
        _BACKEND_HASHES[cls] = h.hexdigest()
    return _BACKEND_HASHES[cls]


# -- artifacts <-> files --------------------------------------------------------
def _split(artifact):
    """(fields for JSON, blobs {field: bytes, encoding}) or None when not serializable."""
    if not dataclasses.is_dataclass(artifact):
        return None
    fields, blobs = {}, {}
    for f in dataclasses.fields(artifact):
        v = getattr(artifact, f.name)
        if isinstance(v, (bytes, bytearray, memoryview)):
            blobs[f.name] = (bytes(v), "bytes")
        elif isinstance(v, str) and len(v) > 200:
            blobs[f.name] = (v.encode("utf-8"), "utf-8")
        elif isinstance(v, _SCALAR):
            fields[f.name] = v
        elif isinstance(v, tuple) and all(isinstance(x, _SCALAR) and not isinstance(x, bytes)
                                          for x in v):
            fields[f.name] = {"tuple": list(v)}
        else:
            return None
    return fields, blobs


def _rebuild(backend, fields: dict):
    make = getattr(backend, "artifact_from_fields", None) or getattr(backend, "artifact_type", None)
    if make is None:
        return None
    return make(**fields)


def _can_rebuild(backend) -> bool:
    return hasattr(backend, "artifact_from_fields") or hasattr(backend, "artifact_type")


def _entry(key: str):
    base = cache_dir()
    return None if base is None else base / key[:2] / key


def _secret():
    """This user's cache secret, or None (with a warning) when it cannot be trusted."""
    try:
        return load_secret(cache_dir())
    except (OSError, UntrustedEntry) as exc:
        warnings.warn(f"opcomp compile cache: not using the disk cache: {exc}",
                      CacheWarning, stacklevel=4)
        return None


def _load_disk(key: str, backend):
    entry = _entry(key)
    if entry is None or not _can_rebuild(backend) or not entry.exists():
        return None
    secret = _secret()
    if secret is None:
        return None
    try:
        fields = _read_entry(entry, key, secret)
        return _rebuild(backend, fields)
    except (OSError, ValueError, TypeError, KeyError, UnicodeDecodeError,
            RecursionError) as exc:
        stats["disk_rejected"] += 1
        warnings.warn(f"opcomp compile cache: ignoring the corrupt entry {entry} ({exc}); "
                      "recompiling", CacheWarning, stacklevel=3)
        _discard(entry)
        return None


def _read_entry(entry: Path, key: str, secret: bytes) -> dict:
    meta = json.loads(read_regular(entry / "meta.json", META_LIMIT).decode("utf-8"))
    _check_schema(meta, key)
    check_mac(secret, meta)
    fields = {k: (tuple(v["tuple"]) if isinstance(v, dict) else v)
              for k, v in meta["fields"].items()}
    for name, info in meta["blobs"].items():
        data = read_regular(entry / info["file"], info["size"])
        if len(data) != info["size"] or hashlib.sha256(data).hexdigest() != info["sha256"]:
            raise ValueError(f"{info['file']}: size or sha256 does not match meta.json")
        fields[name] = data.decode("utf-8") if info["encoding"] == "utf-8" else data
    return fields


def _check_schema(meta, key: str) -> None:
    if not isinstance(meta, dict) or meta.get("schema") != SCHEMA:
        raise ValueError(f"meta.json: not schema {SCHEMA}")
    if meta.get("key") != key:
        raise ValueError(f"meta.json: key {meta.get('key')!r} is not this entry's key")
    if not isinstance(meta.get("fields"), dict) or not isinstance(meta.get("blobs"), dict):
        raise ValueError("meta.json: fields and blobs must be objects")
    for k, v in meta["fields"].items():
        ok = isinstance(v, _SCALAR) or (isinstance(v, dict) and set(v) == {"tuple"}
                                         and isinstance(v["tuple"], list))
        if not ok:
            raise ValueError(f"meta.json: bad field {k!r}")
    for name, info in meta["blobs"].items():
        if not (isinstance(info, dict) and info.get("file") == f"{name}.bin"
                and isinstance(info.get("size"), int) and isinstance(info.get("sha256"), str)
                and info.get("encoding") in ("bytes", "utf-8") and name.isidentifier()):
            raise ValueError(f"meta.json: bad blob entry {name!r}")


def _store_disk(key: str, artifact) -> None:
    entry = _entry(key)
    parts = _split(artifact) if entry is not None else None
    secret = _secret() if parts is not None else None
    if secret is None:
        return
    try:
        _write_entry(entry, key, artifact, secret, *parts)
    except OSError as exc:          # a full or read-only disk must not fail the build
        warnings.warn(f"opcomp compile cache: could not write {entry} ({exc})",
                      CacheWarning, stacklevel=3)


def _write_entry(entry: Path, key: str, artifact, secret: bytes, fields: dict,
                 blobs: dict) -> None:
    entry.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key[:16]}-", dir=entry.parent))
    try:
        meta = {"schema": SCHEMA, "key": key, "artifact": type(artifact).__name__,
                "fields": {k: ({"tuple": list(v)} if isinstance(v, tuple) else v)
                           for k, v in fields.items()}, "blobs": {}}
        for name, (data, enc) in blobs.items():
            _write_file(tmp / f"{name}.bin", data)
            meta["blobs"][name] = {"file": f"{name}.bin", "size": len(data),
                                   "sha256": hashlib.sha256(data).hexdigest(), "encoding": enc}
        meta["mac"] = entry_mac(secret, meta)
        _write_file(tmp / "meta.json", json.dumps(meta, indent=1).encode())
        _fsync_dir(tmp)
        _publish(tmp, entry)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _publish(tmp: Path, entry: Path) -> None:
    """Rename the finished entry into place; another process may have won the race."""
    for attempt in range(2):
        try:
            os.replace(tmp, entry)
            _fsync_dir(entry.parent)
            return
        except OSError:
            if (entry / "meta.json").exists():
                return            # an equal entry is already there
            if attempt:
                raise
            _discard(entry)       # a leftover without meta.json: not ours to keep


def _discard(entry: Path) -> None:
    """Move a bad entry out of the way first (atomic), then delete it."""
    try:
        doomed = Path(tempfile.mkdtemp(prefix=".bad-", dir=entry.parent))
        os.replace(entry, doomed / "entry")
        shutil.rmtree(doomed, ignore_errors=True)
    except OSError:
        shutil.rmtree(entry, ignore_errors=True)
