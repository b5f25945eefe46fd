"""Array checksums of the window and feature folders: the damaged file and window rows are named."""
import numpy as np
import pytest

from gesturegen.data.windowstore import (
    ArrayIntegrityError,
    NpyAppender,
    array_checksums,
    mmap_arrays,
    verify_arrays,
)
from tests.corruption import flip_bit


@pytest.fixture
def folder(tmp_path):
    """200 rows written as the stages write them: one appender (128-byte header) and one np.save."""
    a = NpyAppender(tmp_path / "a.npy", np.float16, (3, 5))
    for i in range(0, 200, 50):
        a.append(np.arange(i * 15, (i + 50) * 15).reshape(50, 3, 5))
    a.close()
    np.save(tmp_path / "ids.npy", np.arange(200, dtype=np.int32))
    return tmp_path


def test_checksums_describe_the_final_bytes(folder):
    c = array_checksums(folder, ("a", "ids"))
    a = c["a"]
    assert (a["file"], a["rows"], a["row_bytes"], a["header_bytes"], a["block_rows"]) == ("a.npy", 200, 30, 128, 64)
    assert a["size"] == 128 + 200 * 30 and len(a["block_crc32"]) == 4  # 64 + 64 + 64 + 8 rows
    assert array_checksums(folder, ("a", "ids")) == c
    verify_arrays(folder, c, "build_windows")


@pytest.mark.parametrize("rows, expected", [
    ([5], "rows (windows) 0-63"),
    ([70, 199], "rows (windows) 64-127, 192-199"),
])
def test_flipped_bits_name_the_window_rows(folder, rows, expected):
    c = array_checksums(folder, ("a", "ids"))
    for r in rows:
        flip_bit(folder / "a.npy", 128 + r * 30 + 7, bit=2)
    with pytest.raises(ArrayIntegrityError, match=rf"a.npy \(checked against .*meta.json\): the content does not "
                                                  rf"match its blake2b: {expected.replace('(', '[(]').replace(')', '[)]')}"
                                                  r" \(checked in blocks of 64 rows\) changed after writing.*re-run "
                                                  r"build_windows"):
        verify_arrays(folder, c, "build_windows")


def test_header_change_truncation_and_appended_bytes(folder):
    c = array_checksums(folder, ("a",))
    flip_bit(folder / "a.npy", 60)  # inside the header
    with pytest.raises(ArrayIntegrityError, match=r"the \.npy header changed"):
        verify_arrays(folder, c, "build_windows")
    flip_bit(folder / "a.npy", 60)
    with open(folder / "a.npy", "ab") as fh:
        fh.write(b"x")
    with pytest.raises(ArrayIntegrityError, match=r"6129 bytes instead of 6128: bytes were appended"):
        verify_arrays(folder, c, "build_windows")
    with open(folder / "a.npy", "r+b") as fh:
        fh.truncate(128 + 150 * 30 + 3)
    with pytest.raises(ArrayIntegrityError, match=r"truncated: 4631 bytes instead of 6128; rows 150-199 \(of 200\) "
                                                  r"are missing or incomplete\. The file is damaged; re-run extract_f"):
        verify_arrays(folder, c, "extract_features")
    with pytest.raises(ArrayIntegrityError, match=r"a.npy: truncated: 4631 bytes, but its header says \(200, 3, 5\) "
                                                  r"float16 \(6128 bytes\); only rows 0-149 are complete"):
        mmap_arrays(folder, ("a",), "build_windows", error=ArrayIntegrityError)


def test_unreadable_header_is_named(folder):
    (folder / "a.npy").write_bytes(b"not numpy at all")
    with pytest.raises(ArrayIntegrityError, match=r"a.npy: not a readable \.npy file"):
        mmap_arrays(folder, ("a",), "build_windows", error=ArrayIntegrityError)


def test_clip_audio_checksums_name_the_damaged_samples(folder, monkeypatch):
    import gesturegen.data.windowstore as ws
    for name, shape in (("dir_vec", (200, 2)), ("poses", (200, 1, 3)), ("audio", (200, 4)), ("video_ids", (200,))):
        np.save(folder / f"{name}.npy", np.zeros(shape, np.float32))
    a = NpyAppender(folder / "clip_audio.npy", np.float16, ())
    a.append(np.arange(5000) / 5000)
    a.close()
    monkeypatch.setattr(ws, "CLIP_AUDIO_BLOCK", 1000)
    c = ws.window_checksums(folder)
    assert sorted(c) == sorted(ws.WINDOW_ARRAYS) and c["dir_vec"]["block_rows"] == 64
    assert (c["clip_audio"]["rows"], c["clip_audio"]["block_rows"], len(c["clip_audio"]["block_crc32"])) == \
        (5000, 1000, 5)
    flip_bit(folder / "clip_audio.npy", 128 + 2 * 2500, bit=1)
    with pytest.raises(ArrayIntegrityError, match=r"clip_audio.npy .*: rows \(samples\) 2000-2999 \(checked in "
                                                  r"blocks of 1000 rows\)"):
        verify_arrays(folder, c, "build_windows")
