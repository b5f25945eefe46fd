"""How often `gesturegen generate --style REF.wav` finds a training video of the reference's own speaker: references
cut from the val and test videos of the default run (3, 5 and 10 s of their clips' stored audio features), matched
against the train videos' voices (gesturegen.style), scored with the demo annotations' speakers.

    python benchmarks/probe_voice_style.py [--dataset demo]

Two scalings of the signature are compared: the one used (each dimension's spread within a voice, between the two
halves of each training video) and the spread across the training videos. Chance is about 1 / #speakers.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from _table import print_table  # benchmarks/, on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]


def speakers_of_videos(split_dir: Path) -> dict[str, str]:
    table = pd.read_csv(split_dir / "windows.csv")
    spk = pd.read_csv(split_dir / "annotations" / "speakers.csv")
    merged = table.merge(spk, on="window")
    return dict(zip(merged["vid"].astype(str), merged["speaker"].astype(str)))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="demo")
    args = ap.parse_args(argv)
    from gesturegen.features.store import open_windows_and_features
    from gesturegen.style import VoiceError, VoiceIndex, frames_per_video, voice_signature

    windows = ROOT / "results" / "build_windows" / args.dataset / "windows"
    features = ROOT / "results" / "extract_features" / args.dataset / "features"
    per_split, names = {}, None
    for split in ("train", "val", "test"):
        w, f = open_windows_and_features(windows, features, args.dataset, split)
        names = f.meta["encoders"]["audio"].get("feature_names", [])
        per_split[split] = (frames_per_video(w.windows(), f.audio_frames, int(w.meta["n_frames"])),
                            speakers_of_videos(w.path))
    train, train_spk = per_split["train"]
    index = VoiceIndex.build(train, names)
    across = VoiceIndex(index.videos, index.signatures, np.where(index.signatures.std(0) > 1e-9,
                                                                 index.signatures.std(0), 1.0), index.blocks)
    fps = 15
    rows = []
    for seconds in (3, 5, 10):
        n = seconds * fps
        hits = {"within a voice (used)": 0, "across videos": 0}
        count = 0
        for split in ("val", "test"):
            videos, spk = per_split[split]
            for vid, frames in videos.items():
                for k in range(0, len(frames) - n + 1, n):
                    try:
                        sig = voice_signature(frames[k:k + n], names)
                    except VoiceError:
                        continue
                    count += 1
                    for name, idx in (("within a voice (used)", index), ("across videos", across)):
                        hits[name] += train_spk[idx.ranking(sig, k=1)[0][0]] == spk[vid]
        for name, h in hits.items():
            rows.append((f"{seconds}", name, str(count), f"{h / count:.3f}"))
    print(f"{len(index.videos)} training videos of {len(set(train_spk.values()))} speakers")
    print_table(("reference s", "scaling", "references", "own speaker found"), rows)


if __name__ == "__main__":
    main()
