"""Runs INSIDE the legacy env (pyarrow==11, numpy<2; envs/legacy.txt): official pyarrow LMDB <-> our encoding.

`read LMDB`: stream every key's value as msgpack frames on stdout: ["count", n], then per key
["video", key, rawformat.encode(video)] or ["error", key, message], then ["end", n]. `write LMDB`: read
msgpack bin frames (each rawformat.encode(video)) from stdin and store pyarrow.serialize(video) under '%010d' keys.
Started by gesturegen.data.legacy with PYTHONPATH=<repo root>; imports nothing that needs numpy>=2.
"""
from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path
from typing import IO, Any

import lmdb
import msgpack
import numpy as np

from gesturegen.data import rawformat

warnings.simplefilter("ignore", FutureWarning)  # pyarrow 11 warns on every serialize/deserialize call


def _plain(obj: Any) -> Any:
    """pyarrow's deserialized values → dict/list/ndarray/scalars that rawformat.encode accepts."""
    if isinstance(obj, dict):
        return {(k.item() if isinstance(k, np.generic) else k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind in "biuf":
            return np.array(obj)  # own memory, plain ndarray
        return _plain(obj.tolist())  # strings / objects: nested lists keep the content
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _send(out: IO[bytes], frame: list) -> None:
    out.write(msgpack.packb(frame, use_bin_type=True))


def read(path: Path, out: IO[bytes]) -> int:
    import pyarrow as pa

    env = lmdb.open(str(path), readonly=True, lock=False, readahead=False, subdir=True)
    n = 0
    try:
        with env.begin() as txn:
            _send(out, ["count", int(env.stat()["entries"])])
            for key, value in txn.cursor():
                name = key.decode(errors="replace")
                try:
                    payload = rawformat.encode(_plain(pa.deserialize(value)))
                except Exception as e:  # noqa: BLE001 - any failure is this key's, reported by name
                    _send(out, ["error", name, f"{type(e).__name__}: {e}"])
                else:
                    _send(out, ["video", name, payload])
                out.flush()
                n += 1
    finally:
        env.close()
    _send(out, ["end", n])
    return n


def write(path: Path, inp: IO[bytes], out: IO[bytes]) -> int:
    import pyarrow as pa

    path.mkdir(parents=True, exist_ok=True)
    env = lmdb.open(str(path), map_size=rawformat.MAP_SIZE, subdir=True, meminit=True)
    n = 0
    try:
        with env.begin(write=True) as txn:
            for payload in msgpack.Unpacker(inp, raw=False, max_buffer_size=0):
                video = rawformat.decode(payload)
                txn.put(b"%010d" % n, pa.serialize(video).to_buffer().to_pybytes())
                n += 1
    finally:
        env.close()
    _send(out, ["end", n])
    return n


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["read", "write"])
    ap.add_argument("lmdb", type=Path)
    args = ap.parse_args(argv)
    # frames go to the real stdout; anything a library prints lands on stderr instead of corrupting the stream
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        if args.mode == "read":
            read(args.lmdb, out)
        else:
            write(args.lmdb, sys.stdin.buffer, out)
    finally:
        out.close()


if __name__ == "__main__":
    main()
