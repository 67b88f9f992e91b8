"""The on-disk cache of compiled object code.

Location: ``$TURBO_CACHE_DIR`` or ``~/.cache/turbo``; ``TURBO_CACHE=0`` disables it.
Entry file ``<key>.o`` holds a header and the object bytes:

    TURBOOBJ1\\n <key (64 hex)>\\n <sha256 of payload (64 hex)>\\n <payload>

The key (``jit.plan_key``) hashes what the code is made from: a kernel's IR,
options and variant, and turbo's own source files; or, where scheduling must run
anyway, the lowered code (LLVM IR text). Both also hash the target CPU and its
features and the turbo, llvmlite and LLVM versions. An entry is used only when
its header names the key it was looked up by and the payload hashes to the
recorded value: a truncated, corrupted or foreign file is deleted and rebuilt,
never loaded. Writes go to a temporary file renamed into place, so a concurrent
reader sees a whole entry or none.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import tempfile

MAGIC = b"TURBOOBJ1\n"

stats = {"hits": 0, "misses": 0, "rejected": 0, "writes": 0}


def cache_dir() -> pathlib.Path | None:
    if os.environ.get("TURBO_CACHE", "1") == "0":
        return None
    root = os.environ.get("TURBO_CACHE_DIR")
    return pathlib.Path(root) if root else pathlib.Path.home() / ".cache" / "turbo"


def _path(key: str) -> pathlib.Path | None:
    d = cache_dir()
    return None if d is None else d / f"{key}.o"


def load(key: str) -> bytes | None:
    path = _path(key)
    if path is None:
        return None
    try:
        blob = path.read_bytes()
    except OSError:
        stats["misses"] += 1
        return None
    payload = _verify(blob, key)
    if payload is None:
        stats["rejected"] += 1
        try:
            path.unlink()
        except OSError:
            pass
        return None
    stats["hits"] += 1
    return payload


def _verify(blob: bytes, key: str) -> bytes | None:
    head_len = len(MAGIC) + 65 + 65
    if len(blob) < head_len or not blob.startswith(MAGIC):
        return None
    pos = len(MAGIC)
    stored_key = blob[pos:pos + 64].decode("ascii", "replace")
    digest = blob[pos + 65:pos + 129].decode("ascii", "replace")
    payload = blob[head_len:]
    if stored_key != key or hashlib.sha256(payload).hexdigest() != digest:
        return None
    return payload


def store(key: str, payload: bytes) -> None:
    path = _path(key)
    if path is None:
        return
    blob = MAGIC + key.encode() + b"\n" + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".o")
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
        os.replace(tmp, path)
        stats["writes"] += 1
    except OSError:
        # an unwritable cache only costs a recompile next time
        pass


def clear() -> int:
    d = cache_dir()
    if d is None or not d.exists():
        return 0
    n = 0
    for p in d.glob("*.o"):
        p.unlink(missing_ok=True)
        n += 1
    return n
