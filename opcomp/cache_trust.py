"""Why a disk cache entry can be trusted: it was written by this user's opcomp.

A cache entry holds machine code that a build will run, so a checksum the entry
declares for itself proves nothing: whoever can write the cache directory can
write a matching checksum too.  Each entry therefore carries an HMAC-SHA256 of
its metadata under a per-user secret, ``<cache>/secret`` (32 random bytes, mode
0600, created on first use).  Someone who can plant files in the cache but
cannot read the secret cannot forge an entry.

Files are read without following symbolic links, must be regular files of the
size the metadata states (no /dev/zero, no FIFO that blocks forever), and the
secret must be private to its owner, or the disk cache is not used at all.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
import tempfile
from pathlib import Path

SECRET_BYTES = 32
META_LIMIT = 1 << 20             # meta.json is a few hundred bytes


class UntrustedEntry(ValueError):
    """A cache file that must not be used (the message says why)."""


def entry_mac(secret: bytes, meta: dict) -> str:
    """HMAC-SHA256 of the metadata (every field but "mac", canonical JSON)."""
    body = {k: v for k, v in meta.items() if k != "mac"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(secret, text, hashlib.sha256).hexdigest()


def check_mac(secret: bytes, meta: dict) -> None:
    claimed = meta.get("mac")
    if not isinstance(claimed, str) or not hmac.compare_digest(claimed, entry_mac(secret, meta)):
        raise UntrustedEntry("meta.json: its HMAC does not match this user's cache secret "
                             "(written by someone else, or altered)")


def read_regular(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes, never through a symlink."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise UntrustedEntry(f"{path.name}: cannot be opened as a plain file ({exc.strerror})")
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UntrustedEntry(f"{path.name}: not a regular file")
        if info.st_size > limit:
            raise UntrustedEntry(f"{path.name}: {info.st_size} bytes, more than {limit}")
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read(limit + 1)
    finally:
        os.close(fd)


def load_secret(base: Path) -> bytes:
    """This user's cache secret, created (mode 0600) if there is none yet.

    Raises UntrustedEntry when the file exists but is not private to this user."""
    path = base / "secret"
    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not os.path.lexists(path):
        _create_secret(path)
    return _read_secret(path)


def _create_secret(path: Path) -> None:
    """Write a whole secret beside `path`, then link it into place: a reader never
    sees a half-written secret, and of two racing processes the first link wins."""
    fd, tmp = tempfile.mkstemp(prefix=".secret-", dir=path.parent)     # mode 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(os.urandom(SECRET_BYTES))
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp)


def _read_secret(path: Path) -> bytes:
    info = os.lstat(path)
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise UntrustedEntry(f"{path} belongs to uid {info.st_uid}, not to this user")
    if stat.S_IMODE(info.st_mode) & 0o077:
        raise UntrustedEntry(f"{path} is readable or writable by others "
                             f"(mode {stat.S_IMODE(info.st_mode):o}; it must be 600)")
    data = read_regular(path, SECRET_BYTES)
    if len(data) != SECRET_BYTES:
        raise UntrustedEntry(f"{path} holds {len(data)} bytes, not {SECRET_BYTES}")
    return data
