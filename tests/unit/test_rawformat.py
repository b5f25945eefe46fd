import os
import shutil

import lmdb
import numpy as np
import pytest

from gesturegen.data import lmdbfile, rawformat
from gesturegen.data.lmdbfile import check_lmdb_header
from gesturegen.data.rawformat import RawFormatError, RawStore, RecordError, decode, encode, write_store
from gesturegen.data.records import check_clip, check_record
from tests.conftest import synthetic_clip
from tests.corruption import flip_bit, leaf_node_offset, middle_page, overwrite_random, truncate


def test_encode_decode_roundtrip_keeps_arrays_dtypes_and_words():
    rng = np.random.default_rng(0)
    video = {"vid": "abc", "framerate": 25.0, "clips": [synthetic_clip(rng, 1.0, 3.0)],
             "extra": {"nested": [1, "x", None, True]}}
    back = decode(encode(video))
    c0, c1 = video["clips"][0], back["clips"][0]
    for k in ("skeletons_3d", "audio_raw"):
        assert c1[k].dtype == c0[k].dtype and c1[k].shape == c0[k].shape
        np.testing.assert_array_equal(c1[k], c0[k])
    assert c1["words"] == c0["words"] and back["extra"] == video["extra"]
    assert back["clips"][0]["skeletons_3d"].flags.writeable


def test_big_endian_and_unsupported_arrays():
    a = np.arange(5, dtype=">f4")
    back = decode(encode({"a": a}))["a"]
    np.testing.assert_array_equal(back, a)
    with pytest.raises(TypeError, match="dtype"):
        encode({"a": np.array(["x"], dtype=object)})


def test_store_roundtrip_and_bytes_are_deterministic(tmp_path):
    rng = np.random.default_rng(1)
    videos = [{"vid": f"v{i}", "clips": [synthetic_clip(rng, 0.0, 2.0)]} for i in range(3)]
    for name in ("a", "b"):
        write_store(tmp_path / name, videos, {"dataset": "t"})
    assert (tmp_path / "a" / "data.mdb").read_bytes() == (tmp_path / "b" / "data.mdb").read_bytes()
    assert (tmp_path / "a" / "digest.json").read_text() == (tmp_path / "b" / "digest.json").read_text()
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["data.mdb", "digest.json"]  # no run-time lock
    with RawStore(tmp_path / "a") as store:
        assert store.keys() == ["0000000000", "0000000001", "0000000002"]
        assert store.meta["n_videos"] == 3 and store.meta["dataset"] == "t"
        assert [v["vid"] for _, v in store] == ["v0", "v1", "v2"]


def test_missing_lmdb_names_path(tmp_path):
    with pytest.raises(RawFormatError, match=f"{tmp_path / 'nope'}: no such LMDB directory"):
        RawStore(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RawFormatError, match="not an LMDB directory"):
        RawStore(tmp_path / "empty")


def test_legacy_lmdb_is_refused_with_the_fix(tmp_path):
    env = lmdb.open(str(tmp_path / "legacy"), map_size=1 << 20)
    with env.begin(write=True) as txn:
        txn.put(b"0000000000", b"\x00\x01pyarrow-bytes")
    env.close()
    with pytest.raises(RawFormatError, match="pyarrow.serialize.*convert_raw"):
        RawStore(tmp_path / "legacy")


def test_corrupt_value_names_file_and_key(tmp_path):
    write_store(tmp_path / "s", [{"vid": "v", "clips": []}])
    env = lmdb.open(str(tmp_path / "s"), map_size=1 << 20)
    with env.begin(write=True) as txn:
        txn.put(b"0000000001", b"\xc1\xc1garbage")
    env.close()
    with pytest.raises(RawFormatError, match=r"s: data.mdb does not match digest.json.*key 0000000001: checksum "
                                             r"mismatch.*on_bad_record: skip"):
        RawStore(tmp_path / "s")
    with RawStore(tmp_path / "s", tolerate_bad_records=True) as store:
        assert store.damaged_keys == {"0000000001"} and store.read("0000000000")["vid"] == "v"
        with pytest.raises(RecordError, match=r"s: key 0000000001: checksum mismatch.*on_bad_record: skip") as e:
            store.read("0000000001")
        assert e.value.reason == "checksum"


# --- per-record checksums, the format record, the digest sidecar --------------------------------------------------

def _videos(n: int, seed: int = 0, seconds: float = 2.0) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [{"vid": f"v{i}", "clips": [synthetic_clip(rng, 0.0, seconds)]} for i in range(n)]


def _rewrite(path, key: bytes, value: bytes) -> None:
    """Put a raw value with LMDB itself and re-make digest.json: only the record checksum can tell."""
    env = lmdb.open(str(path), map_size=1 << 30)
    with env.begin(write=True) as txn:
        txn.put(key, value)
    env.close()
    lmdbfile.write_digest(path)


def test_every_value_carries_a_checksum_of_its_key_and_payload(tmp_path):
    write_store(tmp_path / "s", _videos(2))
    env = lmdb.open(str(tmp_path / "s"), readonly=True, lock=False)
    with env.begin() as txn:
        v0, v1 = txn.get(b"0000000000"), txn.get(b"0000000001")
    env.close()
    assert decode(rawformat.unseal(b"0000000000", v0))["vid"] == "v0"
    assert rawformat.unseal(b"0000000001", v0) is None           # the same bytes under another key fail
    flipped = bytearray(v1)
    flipped[len(v1) // 2] ^= 0x10
    _rewrite(tmp_path / "s", b"0000000001", bytes(flipped))
    with RawStore(tmp_path / "s") as store:                       # digest.json re-made: the file looks intact
        assert store.read("0000000000")["vid"] == "v0"
        with pytest.raises(RecordError, match=r"s: key 0000000001: checksum mismatch"):
            store.read("0000000001")
    _rewrite(tmp_path / "s", b"0000000001", v0)                   # a valid value copied to another key
    with RawStore(tmp_path / "s") as store, pytest.raises(RecordError, match="key 0000000001: checksum"):
        store.read("0000000001")


def test_format_record_is_checksummed_and_counts_the_videos(tmp_path):
    write_store(tmp_path / "s", _videos(2), {"dataset": "t"})
    env = lmdb.open(str(tmp_path / "s"), readonly=True, lock=False)
    with env.begin() as txn:
        meta = txn.get(b"__format__")
    env.close()
    assert decode(rawformat.unseal(b"__format__", meta))["n_videos"] == 2
    shutil.copytree(tmp_path / "s", tmp_path / "bad_meta")
    _rewrite(tmp_path / "bad_meta", b"__format__", meta[:-1] + bytes([meta[-1] ^ 1]))
    with pytest.raises(RawFormatError, match=r"bad_meta: the `__format__` record is corrupt"):
        RawStore(tmp_path / "bad_meta")
    shutil.copytree(tmp_path / "s", tmp_path / "removed")
    env = lmdb.open(str(tmp_path / "removed"), map_size=1 << 30)
    with env.begin(write=True) as txn:
        txn.delete(b"0000000001")
    env.close()
    lmdbfile.write_digest(tmp_path / "removed")
    with pytest.raises(RawFormatError, match=r"removed: 1 records but the `__format__` record says 2"):
        RawStore(tmp_path / "removed")


def test_keyed_videos_keep_their_keys(tmp_path):
    videos = _videos(3)
    assert write_store(tmp_path / "s", [("0000000004", videos[0]), (b"0000000009", videos[1])]) == 2
    with RawStore(tmp_path / "s") as store:
        assert store.keys() == ["0000000004", "0000000009"] and store.read("0000000009")["vid"] == "v1"
    with pytest.raises(ValueError, match="key 0000000004 appears twice"):
        write_store(tmp_path / "dup", [("0000000004", videos[0]), ("0000000004", videos[1])])
    with pytest.raises(ValueError, match="cannot be a video key"):
        write_store(tmp_path / "meta", [("__format__", videos[0])])
    with pytest.raises(FileExistsError, match="already holds an LMDB"):
        write_store(tmp_path / "s", videos)


def test_version_1_store_is_refused_with_the_fix(tmp_path):
    """v1 (no checksums) as the previous code wrote it: plain msgpack values, no digest.json."""
    path = tmp_path / "v1"
    env = lmdb.open(str(path), map_size=1 << 30)
    with env.begin(write=True) as txn:
        txn.put(b"0000000000", encode(_videos(1)[0]))
        txn.put(b"__format__", encode({"format": "gesturegen-raw", "version": 1, "n_videos": 1}))
    env.close()
    with pytest.raises(RawFormatError, match=r"v1: written in 'gesturegen-raw' v1.*re-run convert_raw / make_demo_data"):
        RawStore(path)
    lmdbfile.write_digest(path)  # even with a digest beside it
    with pytest.raises(RawFormatError, match=r"v1: written in 'gesturegen-raw' v1.*re-run convert_raw / make_demo_data"):
        RawStore(path)


def test_missing_digest_is_refused(tmp_path):
    write_store(tmp_path / "s", _videos(1))
    (tmp_path / "s" / "digest.json").unlink()
    with pytest.raises(RawFormatError, match=r"s: no digest.json beside data.mdb.*re-run convert_raw"):
        RawStore(tmp_path / "s")


# --- damage to data.mdb: header check, digest + child scan ---------------------------------------------------------

def test_header_check_reads_both_meta_pages(tmp_path):
    write_store(tmp_path / "s", _videos(3))
    f = tmp_path / "s" / "data.mdb"
    h = check_lmdb_header(tmp_path / "s")
    assert h.page_size == 4096 and h.entries == 4 and h.txnid == 1 and h.needed_bytes == f.stat().st_size
    assert check_lmdb_header(f) == h


def test_truncated_file_is_refused_before_it_is_mapped(tmp_path):
    write_store(tmp_path / "s", _videos(3))
    f = tmp_path / "s" / "data.mdb"
    full = f.stat().st_size
    size = truncate(f)
    with pytest.raises(RawFormatError, match=rf"s/data.mdb: truncated: {size} bytes, but its header \(page size "
                                             rf"4096, last page {full // 4096 - 1}, txn 1, 4 records\) needs {full} "
                                             rf"bytes. Reading it in a separate process: 1 record\(s\) complete, up "
                                             rf"to key 0000000000 \(reading the next one crashed \(SIGBUS\)\)"):
        RawStore(tmp_path / "s")
    os.truncate(f, 4096)  # not even the second meta page is left
    with pytest.raises(RawFormatError, match=r"s/data.mdb: not a usable LMDB file \(4096 bytes\): meta page 1"):
        RawStore(tmp_path / "s")
    f.write_bytes(b"\0" * 8192)
    with pytest.raises(RawFormatError, match=r"meta page 0 is invalid \(no LMDB meta page"):
        RawStore(tmp_path / "s")


def test_random_bytes_in_a_value_name_the_key(tmp_path):
    write_store(tmp_path / "s", _videos(3, seconds=4.0))
    overwrite_random(tmp_path / "s" / "data.mdb", middle_page(tmp_path / "s" / "data.mdb"))
    with pytest.raises(RawFormatError, match=r"s: data.mdb does not match digest.json \(data.mdb's blake2b.*"
                                             r"key 0000000001: checksum mismatch"):
        RawStore(tmp_path / "s")


def test_flipped_bit_in_the_btree_is_caught_in_a_child_process(tmp_path):
    """The node of key 2 claims a value 8 MiB longer: plain LMDB reads past the end of the file (SIGBUS)."""
    write_store(tmp_path / "s", _videos(3))
    flip_bit(tmp_path / "s" / "data.mdb", leaf_node_offset(tmp_path / "s", b"0000000002") + 2, bit=7)
    for tolerate in (False, True):  # a crash is never a skippable record
        with pytest.raises(RawFormatError, match=r"s: data.mdb does not match digest.json.*the scan crashed "
                                                 r"\(SIGBUS\) after key 0000000001"):
            RawStore(tmp_path / "s", tolerate_bad_records=tolerate)


def test_damage_outside_the_records_is_still_an_error(tmp_path):
    write_store(tmp_path / "s", _videos(1))
    f = tmp_path / "s" / "data.mdb"
    with open(f, "ab") as fh:
        fh.write(b"\0" * 4096)  # bytes appended: every record verifies, the file is not what was written
    with pytest.raises(RawFormatError, match=r"data.mdb has \d+ bytes, digest.json says.*all 2 records still match"):
        RawStore(tmp_path / "s")


def test_official_lmdb_is_probed_in_a_child_process(tmp_path):
    env = lmdb.open(str(tmp_path / "legacy"), map_size=1 << 20)
    with env.begin(write=True) as txn:
        txn.put(b"0000000000", b"\x00\x01pyarrow-bytes")
    env.close()
    report = lmdbfile.probe_meta(tmp_path / "legacy")
    assert report.failure is None and report.meta is None


def test_child_scan_reports_every_damaged_key(tmp_path):
    write_store(tmp_path / "s", _videos(3))
    env = lmdb.open(str(tmp_path / "s"), map_size=1 << 30)
    with env.begin(write=True) as txn:
        for k in (b"0000000000", b"0000000002"):
            txn.put(k, b"x" * 40)
    env.close()
    report = lmdbfile.scan_store(tmp_path / "s")
    assert [k for k, _ in report.bad] == ["0000000000", "0000000002"] and report.failure is None
    assert report.n_records == 4 and report.last_key == "__format__"


# --- validation where records enter --------------------------------------------------------------------------------

@pytest.mark.parametrize("mutate, reason", [
    (lambda v: v.pop("clips"), "not_a_video"),
    (lambda v: v["clips"].append("x"), "bad_clip"),
    (lambda v: v["clips"][0].pop("audio_raw"), "missing_field"),
    (lambda v: v["clips"][0].__setitem__("skeletons_3d", np.array([["a"]])), "bad_skeleton"),
    (lambda v: v["clips"][0].__setitem__("skeletons_3d", np.zeros((4, 43))), "bad_skeleton"),
    (lambda v: v["clips"][0]["skeletons_3d"].__setitem__((2, 7, 1), np.inf), "nan_skeleton"),
    (lambda v: v["clips"][0]["audio_raw"].__setitem__(1234, np.nan), "nan_audio"),
    (lambda v: v["clips"][0].__setitem__("audio_raw", ["a", "b"]), "bad_audio"),
    (lambda v: v["clips"][0].__setitem__("audio_raw", np.zeros((3, 2), np.float32)), "bad_audio"),
    (lambda v: v["clips"][0].__setitem__("end_time", float("nan")), "bad_times"),
])
def test_check_record_catches_what_must_not_enter(mutate, reason):
    video = _videos(1)[0]
    assert check_record(video) is None
    mutate(video)
    problem = check_record(video)
    assert problem is not None and problem.reason == reason, problem
    if reason == "nan_audio":
        assert problem.message == "clip 0: audio_raw has 1 NaN/inf sample(s), first at sample 1234 (0.077 s into the clip)"


@pytest.mark.parametrize("mutate, reason", [
    (lambda c: c.__setitem__("skeletons_3d", c["skeletons_3d"][:, :40]), "joint_count"),
    (lambda c: c["skeletons_3d"].__setitem__((5, 3, 1), np.nan), "nan_skeleton"),
    (lambda c: c["words"].append(["late", 2.5, 2.0]), "word_order"),
    (lambda c: c.__setitem__("audio_raw", c["audio_raw"][:8000]), "short_audio"),
    (lambda c: c.pop("words"), "missing_field"),
    (lambda c: c.__setitem__("end_time", c["start_time"]), "bad_times"),
    (lambda c: c["audio_raw"].__setitem__(100, np.nan), "nan_audio"),
    (lambda c: c["audio_raw"].__setitem__(200, np.inf), "nan_audio"),
    (lambda c: c.__setitem__("audio_raw", np.array(["x"] * 48000)), "bad_audio"),
])
def test_check_clip_reports_each_problem(mutate, reason):
    clip = synthetic_clip(np.random.default_rng(2), 1.0, 3.0)
    assert check_clip(clip, 43, "seconds") is None
    mutate(clip)
    problem = check_clip(clip, 43, "seconds")
    assert problem is not None and problem.reason == reason, problem
