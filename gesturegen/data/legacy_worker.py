"""Runs INSIDE the legacy env (pyarrow==11, numpy<2; envs/legacy.txt): official pyarrow LMDB <-> our encoding.

`read LMDB`: stream every key's value as msgpack frames on stdout: ["count", n], then per key
["video", key, rawformat.encode(video)] or ["error", key, reason, message], then ["end", n]; an LMDB error while
walking the file sends ["fatal", message] and exits 3. `write LMDB`: read msgpack bin frames (each
rawformat.encode(video)) from stdin and store pyarrow.serialize(video) under '%010d' keys (for tests).
Started by gesturegen.data.legacy with PYTHONPATH=<repo root>; imports nothing that needs numpy>=2.

Values are deserialized with a SerializationContext that cannot unpickle. pyarrow 11's default context
(`pyarrow.serialization._register_default_serialization_handlers`) registers 'function' and 'type' with
pickle=True, 'collections.defaultdict' (whose default_factory is a pickled type), pandas Index/IntervalArray/
PeriodArray/DatetimeArray (custom handlers that call pickle.loads), pandas Series/DataFrame, pyarrow Array/
RecordBatch/Table, scipy/pydata sparse matrices and numpy matrices; and `SerializationContext._deserialize_callback`
unpickles ANY object whose serialized dict carries a "pickle" flag, registered or not. Ours registers only the
pure-data handlers the official files can need (big ints, numpy object/str arrays, deque, OrderedDict, Counter) and
refuses every "pickle" payload before it reaches pickle.
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

from gesturegen.data import lmdbfile, rawformat

warnings.simplefilter("ignore", FutureWarning)  # pyarrow 11 warns on every serialize/deserialize call


class PickleRefused(ValueError):
    pass


def _refuse_pickle(_data: Any) -> Any:
    raise PickleRefused("a pickled payload (refused: values are never unpickled)")


def no_pickle_context() -> Any:
    """A pyarrow SerializationContext with only pure-data handlers; any pickled payload raises PickleRefused."""
    import collections

    import pyarrow as pa
    from pyarrow import serialization as pas

    class NoPickleContext(pa.SerializationContext):
        def _deserialize_callback(self, serialized_obj: dict) -> Any:
            if "pickle" in serialized_obj:  # pyarrow would unpickle it whatever its type id
                raise PickleRefused(f"a pickled payload of type {serialized_obj.get('_pytype_')!r} (refused: values "
                                    f"are never unpickled)")
            return super()._deserialize_callback(serialized_obj)

    ctx = NoPickleContext()
    ctx.set_pickle(_refuse_pickle, _refuse_pickle)  # second line of defence
    ctx.register_type(int, "int", custom_serializer=str, custom_deserializer=int)  # ints beyond 64 bits
    ctx.register_type(np.ndarray, "np.array", custom_serializer=pas._serialize_numpy_array_list,
                      custom_deserializer=pas._deserialize_numpy_array_list)  # object / non-native dtypes
    ctx.register_type(collections.deque, "collections.deque", custom_serializer=list,
                      custom_deserializer=collections.deque)
    ctx.register_type(collections.OrderedDict, "collections.OrderedDict",
                      custom_serializer=lambda d: (list(d.keys()), list(d.values())),
                      custom_deserializer=lambda data: collections.OrderedDict(zip(data[0], data[1])))
    ctx.register_type(collections.Counter, "collections.Counter",
                      custom_serializer=lambda d: (list(d.keys()), list(d.values())),
                      custom_deserializer=lambda data: collections.Counter(dict(zip(data[0], data[1]))))
    return ctx


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

    context = no_pickle_context()
    env = lmdb.open(str(path), readonly=True, lock=False, readahead=False, subdir=True)
    n = 0
    try:
        with env.begin() as txn:
            _send(out, ["count", int(env.stat()["entries"])])
            for key, value in txn.cursor():
                name = key.decode(errors="backslashreplace")
                try:
                    payload = rawformat.encode(_plain(pa.deserialize(value, context=context)))
                except PickleRefused as e:
                    _send(out, ["error", name, "pickle_refused", str(e)])
                except Exception as e:  # noqa: BLE001 - any failure is this key's, reported by name
                    _send(out, ["error", name, "undecodable", f"{type(e).__name__}: {e}"])
                else:
                    _send(out, ["video", name, payload])
                out.flush()
                n += 1
    except lmdb.Error as e:  # damaged pages: the parent names the last key it got
        _send(out, ["fatal", f"{type(e).__name__}: {e}"])
        out.flush()
        sys.exit(3)
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
    lmdbfile.no_core_dump()  # a damaged file may crash LMDB or pyarrow here; the parent reports it
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
