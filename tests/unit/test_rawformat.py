import lmdb
import numpy as np
import pytest

from gesturegen.data.rawformat import RawFormatError, RawStore, check_clip, decode, encode, write_store
from tests.conftest import synthetic_clip


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
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["data.mdb"]  # no run-time lock file
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
    with RawStore(tmp_path / "s") as store:
        with pytest.raises(RawFormatError, match=r"s: key 0000000001: value is corrupt.*on_bad_record: skip"):
            store.read("0000000001")


@pytest.mark.parametrize("mutate, reason", [
    (lambda c: c.__setitem__("skeletons_3d", c["skeletons_3d"][:, :40]), "joint_count"),
    (lambda c: c["skeletons_3d"].__setitem__((5, 3, 1), np.nan), "nan_skeleton"),
    (lambda c: c["words"].append(["late", 2.5, 2.0]), "word_order"),
    (lambda c: c.__setitem__("audio_raw", c["audio_raw"][:8000]), "short_audio"),
    (lambda c: c.pop("words"), "missing_field"),
    (lambda c: c.__setitem__("end_time", c["start_time"]), "bad_times"),
])
def test_check_clip_reports_each_problem(mutate, reason):
    clip = synthetic_clip(np.random.default_rng(2), 1.0, 3.0)
    assert check_clip(clip, 43, "seconds") is None
    mutate(clip)
    problem = check_clip(clip, 43, "seconds")
    assert problem is not None and problem.reason == reason, problem
