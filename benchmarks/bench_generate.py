"""`gesturegen generate` end to end on 60 s of real speech: the CMU ARCTIC test recording
(../shared/data/speech/arctic_a0007.wav, 4 s) repeated to the length asked, with its transcript repeated, through
the committed models of the default run (results/diffusion/demo-{part}/model; run the DAG first).

    python benchmarks/bench_generate.py [--seconds 60] [--threads 2]

Rows: with the transcript (forced alignment) and with a words file (no alignment). Real-time factor = (alignment +
features + generation + decoding) / seconds of speech, as the issue defines it; loading the models and encoders is a
fixed cost per call, printed apart. Writing motion.npz and motion.bvh is included in the total.
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
from _table import print_table, seconds_and_threads  # benchmarks/, on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]
SPEECH = ROOT.parent / "shared" / "data" / "speech"


def main(argv: list[str] | None = None) -> None:
    args = seconds_and_threads(__doc__, argv)
    from gesturegen.cli import main as cli
    from gesturegen.recording import align_transcript, load_recording

    rec = load_recording(SPEECH / "arctic_a0007.wav")
    text = (SPEECH / "arctic_a0007.txt").read_text().strip()
    reps = int(np.ceil(args.seconds / rec.duration_s))
    one = align_transcript(rec, text).words
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sf.write(tmp / "long.wav", np.tile(rec.audio, reps), 16000)
        (tmp / "long.txt").write_text(" ".join([text] * reps))
        (tmp / "long.tsv").write_text("".join(f"{w.text}\t{w.start + k * rec.duration_s:.3f}\t"
                                              f"{w.end + k * rec.duration_s:.3f}\n"
                                              for k in range(reps) for w in one))
        for label, extra in (("transcript (aligned)", ["--transcript", str(tmp / "long.txt")]),
                             ("words file", ["--words", str(tmp / "long.tsv")])):
            out = tmp / label.split()[0]
            rc = cli(["generate", str(tmp / "long.wav"), "--out", str(out), *extra])
            if rc != 0:
                sys.exit(f"gesturegen generate failed ({rc}); run the DAG first (snakemake --cores all)")
            s = json.loads((out / "generate.json").read_text())
            sec = s["seconds"]
            rows.append((label, f"{s['duration_s']:.0f}", str(s["words"]), str(s["windows"]),
                         f"{sec['alignment']:.2f}", f"{sec['features']:.2f}", f"{sec['generation']:.2f}",
                         f"{sec['loading']:.2f}", f"{s['rtf']:.4f}",
                         f"{sec['total'] / s['duration_s']:.4f}"))
    print_table(("input", "speech s", "words", "windows", "align s", "features s", "generation s", "loading s",
                 "RTF", "RTF with loading"), rows)


if __name__ == "__main__":
    main()
