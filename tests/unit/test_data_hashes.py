"""The tiny preset's data stages store exactly the committed bytes (tests/data_hashes.json).

make_demo_data, convert_raw and build_windows are pure functions of their inputs and params on any x86-64 machine,
so the sha256 of every file they store (raw LMDBs, window arrays, tables, normalisation statistics, metrics) is a
constant. When a change alters them on purpose, regenerate the constants with one command and commit the file:

    UPDATE_HASHES=1 python -m pytest tests/unit/test_data_hashes.py
"""
import json
import os

import pytest

from gesturegen.data import demo
from tests.conftest import ROOT

HASHES = ROOT / "tests" / "data_hashes.json"
UPDATE = "UPDATE_HASHES=1 python -m pytest tests/unit/test_data_hashes.py"


def test_tiny_data_stage_outputs_have_the_pinned_hashes(data_stage_hashes):
    got = data_stage_hashes("native")
    if os.environ.get("UPDATE_HASHES") == "1":
        HASHES.write_text(json.dumps({
            "about": f"sha256 of the tiny preset's data stage outputs (tests/tiny/params.yaml); regenerate: {UPDATE}",
            "generator": demo.GENERATOR, "sha256": got}, indent=2, sort_keys=False) + "\n")
        pytest.skip(f"UPDATE_HASHES=1: wrote {len(got)} hashes to {HASHES.relative_to(ROOT)}; commit it")
    pinned = json.loads(HASHES.read_text())
    want = pinned["sha256"]
    changed = sorted(k for k in want if k in got and got[k] != want[k])
    missing, new = sorted(set(want) - set(got)), sorted(set(got) - set(want))
    assert not (changed or missing or new), (
        f"the data stages stored other bytes than {HASHES.relative_to(ROOT)} pins "
        f"(pinned for generator {pinned['generator']!r}, now {demo.GENERATOR!r}):\n"
        + "".join(f"  {what}: {k}\n" for what, ks in (("changed", changed), ("missing", missing), ("new", new))
                  for k in ks)
        + "If that is on purpose (the generator, a format or the windowing changed): bump demo.GENERATOR when the "
        f"demo data changed, run `{UPDATE}` and commit {HASHES.relative_to(ROOT)} with the change. If not, something "
        "made the output depend on the machine or the code path; `python -m tests.datastages --all` compares "
        "emulated CPUs, and gesturegen.numerics has the deterministic replacements")
    assert pinned["generator"] == demo.GENERATOR, f"the hashes were pinned for {pinned['generator']!r}; run `{UPDATE}`"
