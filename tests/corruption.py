"""Ways to damage files the way disks, copies and downloads do, and helpers to check how a stage fails."""
from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.conftest import ROOT

PAGE = 4096


def truncate(f: Path, keep: float = 0.5) -> int:
    """Cut f to `keep` of its size (rounded down to a page: a copy that stopped half-way); returns the new size."""
    size = int(f.stat().st_size * keep) // PAGE * PAGE
    os.truncate(f, size)
    return size


def overwrite_random(f: Path, offset: int, n: int = 64 * 1024, seed: int = 0) -> None:
    """Replace n bytes at offset with random ones (a bad sector, a botched sync)."""
    with open(f, "r+b") as fh:
        fh.seek(offset)
        fh.write(np.random.default_rng(seed).bytes(n))


def flip_bit(f: Path, offset: int, bit: int = 0) -> None:
    with open(f, "r+b") as fh:
        fh.seek(offset)
        b = fh.read(1)[0]
        fh.seek(offset)
        fh.write(bytes([b ^ (1 << bit)]))


def middle_page(f: Path) -> int:
    """The offset of the page in the middle of f: inside the values (overflow pages), not LMDB's structure."""
    return f.stat().st_size // 2 // PAGE * PAGE


def leaf_node_offset(lmdb_dir: Path, key: bytes) -> int:
    """The file offset of `key`'s node in the root leaf page of a small LMDB (one leaf page, as our tests write).

    A node is (lo: u16, hi: u16, flags: u16, ksize: u16, key, data): lo/hi is the value size, so flipping a bit of
    hi makes LMDB hand out a value that runs past the end of the file (SIGBUS when it is read).
    """
    data = (lmdb_dir / "data.mdb").read_bytes()
    metas = [struct.unpack_from("<QQ", data, off + 136) + (struct.unpack_from("<Q", data, off + 128)[0],)
             for off in (0, PAGE)]
    _, _, root = max(metas, key=lambda m: m[1])          # (last_pg, txnid, main root) of the newer meta
    page = data[root * PAGE:(root + 1) * PAGE]
    flags, lower = struct.unpack_from("<HH", page, 10)
    assert flags & 0x02, "the root is not a leaf page: write fewer records"
    for i in range((lower - 16) // 2):
        node = struct.unpack_from("<H", page, 16 + 2 * i)[0]
        ksize = struct.unpack_from("<H", page, node + 6)[0]
        if page[node + 8:node + 8 + ksize] == key:
            return root * PAGE + node
    raise KeyError(key)


def run_module(module: str, *args: str | Path) -> subprocess.CompletedProcess:
    """`python -m module args` in a fresh process, importing this checkout (a crash there cannot take pytest down)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], check=False, cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def assert_failed_cleanly(res: subprocess.CompletedProcess, *expected: str) -> str:
    """The process exited 1 with a Python exception (not killed by a signal) whose message holds every `expected`."""
    assert res.returncode == 1, f"exit {res.returncode} (negative: killed by a signal)\n{res.stderr[-3000:]}"
    last = res.stderr.strip().splitlines()[-1]
    for text in expected:
        assert text in last, f"{text!r} not in the error:\n{last}"
    return last


def leftovers(out_dir: Path) -> list[str]:
    """Everything in out_dir (partial outputs, staging folders), for asserting that nothing was left."""
    return sorted(p.name for p in out_dir.iterdir()) if out_dir.exists() else []
