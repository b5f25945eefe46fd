"""The `gesturegen` command. Pipeline stages run through Snakemake/DVC; this is for looking at things.

    gesturegen params [PATH]          validate params.yaml (strict) and print the resolved values
    gesturegen windows SPLIT_DIR      summarise a build_windows split (shapes, videos, words)
    gesturegen plots-template PATH    write the offline HTML template of `dvc plots show` (envs/setup.sh does)
    gesturegen warm-up                compile librosa's numba kernels into this environment's cache (envs/setup.sh
                                      does): else the first audio-feature call of a new environment spends ~15 s
    gesturegen generate SPEECH.wav --out DIR (--transcript TXT | --words TSV)
                                      gestures for a recording with the trained models: motion.npz, motion.bvh,
                                      video.mp4 (with the speech)
    gesturegen pull [-r REMOTE]       `dvc pull` that names the remote and what it lacks when it fails, then
                                      `snakemake --touch` so that Snakemake adopts the pulled outputs
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from gesturegen import __version__


def _params(args: argparse.Namespace) -> int:
    from gesturegen.config import ParamsError, load_params, to_dict
    try:
        params = load_params(args.path)
    except ParamsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(yaml.safe_dump(to_dict(params), sort_keys=False), end="")
    return 0


def _windows(args: argparse.Namespace) -> int:
    from gesturegen.data.windowstore import open_split
    split = open_split(args.split_dir)
    words = split.words()
    print(f"{args.split_dir}: {len(split)} windows of {split.meta['n_frames']} frames at {split.meta['fps']} fps "
          f"({split.meta['skeleton']}, span {split.meta['span']})")
    for name in ("dir_vec", "poses", "audio", "video_ids"):
        arr = getattr(split, name)
        print(f"  {name:9s} {arr.dtype!s:8s} {arr.shape}")
    print(f"  videos    {len(set(split.video_ids.tolist()))}")
    print(f"  words     {len(words)} ({len(words) / max(len(split), 1):.1f} per window)")
    return 0


_PLOTS_PAGE = """<!DOCTYPE html>
<html>
<head>
    {refresh_tag}
    <meta charset="utf-8">
    <title>gesturegen: DVC plots</title>
    <!-- vega %s, vega-lite %s, vega-embed %s, inlined from the vl-convert-python wheel: renders offline -->
    <script type="text/javascript">
%s
    </script>
    <style>
        table { border-spacing: 15px; }
        body { font-family: sans-serif; }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""


def _warm_up(args: argparse.Namespace) -> int:
    """Run the librosa paths of the pipeline once on 5 s of noise: numba compiles their kernels and keeps them in
    the environment's on-disk cache (librosa's __pycache__), so that no stage pays for it (15 s measured in a new
    environment, on extract_features' first clip, on the DAG's critical path). The data and metrics do not change."""
    import time

    import numpy as np

    from gesturegen.features.audio import DefaultAudioEncoder
    from gesturegen.metrics.beat import audio_onsets

    start = time.perf_counter()
    y = (np.random.default_rng(0).standard_normal(5 * 16000) * 0.1).astype(np.float32)
    DefaultAudioEncoder().clip_frames(y, 75)
    audio_onsets(y)
    print(f"gesturegen: librosa's kernels compiled and cached ({time.perf_counter() - start:.1f} s)")
    return 0


def _plots_template(args: argparse.Namespace) -> int:
    """DVC's page with the vega libraries inline instead of its CDN <script> tags (no `{scripts}` placeholder)."""
    import vl_convert as vlc

    vl_version = "v5.21"   # DVC's templates are vega-lite v5 specs
    bundle = vlc.javascript_bundle(vl_version=vl_version)
    if "</script" in bundle.lower():
        print("error: the vega bundle contains '</script'; cannot inline it", file=sys.stderr)
        return 1
    page = _PLOTS_PAGE % (vlc.get_vega_version(), vl_version, vlc.get_vega_embed_version(), bundle)
    args.path.parent.mkdir(parents=True, exist_ok=True)
    args.path.write_text(page)
    print(f"wrote {args.path} ({len(page) // 1024} KiB)")
    return 0


def _generate(args: argparse.Namespace) -> int:
    """gesturegen generate: resolve files and params, then gesturegen.generate does the work."""
    import json
    import time
    from functools import partial

    from tqdm import tqdm

    from gesturegen.config import ParamsError, load_params, to_dict
    from gesturegen.generate import GenerateError, generate_recording, load_part_models, write_outputs
    from gesturegen.recording import (
        AlignmentError,
        RecordingError,
        align_transcript,
        load_recording,
        read_words,
        recognize_words,
    )

    def fail(msg: str) -> int:
        print(f"gesturegen generate: error: {msg}", file=sys.stderr)
        return 2

    given = [f for f, v in (("--transcript", args.transcript), ("--words", args.words),
                            ("--asr-model", args.asr_model)) if v]
    if len(given) > 1:
        return fail(f"give one source of word timings, not {' and '.join(given)}")
    if not given:
        return fail("word timings are needed: give --transcript TEXT_FILE (aligned to the speech offline), "
                    "--words WORDS.tsv (word, start, end in seconds), or --asr-model DIR (speech recognition with a "
                    "local faster-whisper model folder)")
    if args.out.exists() and any(args.out.iterdir()) and not args.force:
        return fail(f"{args.out} exists and is not empty; choose another --out or pass --force to overwrite")
    try:
        params = load_params(args.params)
    except ParamsError as e:
        return fail(str(e))
    dataset = args.dataset or params.datasets[0]
    if dataset not in params.data_sources:
        return fail(f"--dataset {dataset!r}: not in params.yaml's data_sources ({sorted(params.data_sources)})")
    start = time.perf_counter()
    try:
        rec = load_recording(args.speech)
        notes: list[str] = []
        if args.words:
            words, source = read_words(args.words, rec.duration_s), f"words file {args.words}"
        else:
            if args.asr_model:
                what = f"speech recognition with {args.asr_model} (faster-whisper)"
                timed = partial(recognize_words, rec, args.asr_model, language=args.language,
                                threads=params.compute.threads)
            else:
                try:
                    text = Path(args.transcript).read_text()
                except (OSError, UnicodeDecodeError) as e:
                    return fail(f"{args.transcript}: cannot read the transcript ({e})")
                what = f"transcript {args.transcript}, aligned with pocketsphinx"
                timed = partial(align_transcript, rec, text, args.transcript)
            try:
                got = timed()
                words, source = got.words, what
                notes += got.notes
            except AlignmentError as e:
                if not args.allow_unaligned:
                    raise
                words, source = [], f"none: {what} failed (--allow-unaligned)"
                notes.append(f"no word timings ({e}); generated without them")
    except RecordingError as e:
        return fail(str(e) + ("" if args.allow_unaligned or not isinstance(e, AlignmentError)
                              else "; or pass --allow-unaligned to generate without word timings"))
    align_s = time.perf_counter() - start
    load_start = time.perf_counter()
    template = args.checkpoint or f"results/diffusion/{dataset}-{{part}}/model"
    norm = args.normalization or Path(f"results/build_windows/{dataset}/windows/normalization.json")
    try:
        parts, info, skeleton, mean = load_part_models(template, dataset, norm)
    except (FileNotFoundError, ValueError) as e:
        return fail(str(e))
    from gesturegen.features import make_encoders
    from gesturegen.generation import Join
    from gesturegen.models.denoisers import MODALITIES
    from gesturegen.models.diffusion import SamplerConfig, SamplerError, check_sampler

    s = params.diffusion.sampler
    sampler = SamplerConfig(name=s.name, steps=args.steps or s.steps, guidance=dict(s.guidance),
                            guidance_all=s.guidance_all)
    try:
        check_sampler(sampler, parts[0].diffusion.config.steps, MODALITIES)
    except SamplerError as e:
        return fail(f"--steps: {e}")
    fps, n_frames, n_seed = float(info["fps"]), int(info["n_frames"]), int(info["n_seed_frames"])
    audio_enc, text_enc = make_encoders(params.extract_features, sample_rate_hz=16000, fps=fps, seed=params.seed)
    seed = params.seed if args.seed is None else args.seed
    styles, style = None, None
    if args.style:
        from gesturegen.generate import reference_styles, voice_styles
        try:
            if args.style.suffix.lower() == ".wav":          # a voice: the closest training speaker's motion
                styles, style = voice_styles(
                    load_recording(args.style), args.style, parts, audio_enc,
                    args.style_windows or Path(f"results/build_windows/{dataset}/windows"),
                    args.style_features or Path(f"results/extract_features/{dataset}/features"), dataset,
                    fps=fps, n_frames=n_frames, n_seed=n_seed)
            else:
                styles, style = reference_styles(args.style, parts, skeleton, mean), {"kind": "motion",
                                                                                      "reference": str(args.style)}
        except (GenerateError, RecordingError) as e:
            return fail(str(e))
    load_s = time.perf_counter() - load_start
    try:
        gen = generate_recording(rec, words, parts, audio_enc, text_enc, mean, skeleton, sampler, fps=fps,
                                 n_frames=n_frames, n_seed=n_seed, seed=seed, use_ema=params.diffusion.use_ema,
                                 quantize=params.diffusion.quantize, styles=styles,
                                 join=Join(**to_dict(params.diffusion.join)),
                                 progress=lambda it: tqdm(it, desc="generate", unit="window", leave=False))
    except GenerateError as e:
        return fail(str(e))
    total_s = time.perf_counter() - start
    summary = {"speech": str(args.speech), "duration_s": round(rec.duration_s, 3), "source_rate": rec.source_rate,
               "channels": rec.channels, "words": len(words), "word_source": source, "dataset": dataset,
               "skeleton": skeleton.name, "fps": fps, "frames": int(gen.vectors.shape[0]), "windows": gen.n_windows,
               "sampler": {"name": sampler.name, "steps": sampler.steps}, "seed": seed,
               "join": to_dict(params.diffusion.join),
               "style": style,
               "models": {p: template.replace("{part}", p) for p in ("body", "hand")},
               "notes": notes + gen.notes,
               "seconds": {"alignment": round(align_s, 3), "loading": round(load_s, 3), **gen.seconds,
                           "total": round(total_s, 3)},
               # the real-time factor: alignment + features + generation + decoding, per second of speech
               # (loading the models and encoders, a fixed cost per call, is reported apart)
               "rtf": round((total_s - load_s) / max(rec.duration_s, 1e-9), 4)}
    from gesturegen.io import replace_on_success

    # everything is written into a staging folder that replaces --out only when all of it succeeded
    with replace_on_success(args.out) as (stage,):
        stage.mkdir()
        files = write_outputs(stage, gen, skeleton, mean, summary, words)
        if not args.no_video:
            from gesturegen.render import Panel, render_video

            t0 = time.perf_counter()
            files["video"] = render_video(stage / "video.mp4", [Panel("generated", gen.joints)], skeleton, fps,
                                          audio=rec.audio, words=[(w.text, w.start, w.end) for w in words],
                                          title=f"{args.speech.name}: {dataset} models, {sampler.name} "
                                                f"{sampler.steps} steps, seed {seed}",
                                          progress=lambda it: tqdm(it, desc="render", unit="frame", leave=False))
            summary["seconds"]["render"] = round(time.perf_counter() - t0, 3)
        (stage / "generate.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    files = {k: args.out / f.name for k, f in files.items()}
    print(f"gesturegen generate: {rec.duration_s:.1f} s of speech, {len(words)} words ({source}), "
          f"{gen.n_windows} windows -> {', '.join(str(f) for f in files.values())} in {total_s:.1f} s ({load_s:.1f} s "
          f"loading models; real-time factor without it {summary['rtf']:.3f}; video not counted)")
    if style and style["kind"] == "voice":
        print(f"  style: the voice of {args.style} is closest to training video {style['matched_video']} (distance "
              f"{style['distance']:.3f}; next: " + ", ".join(f"{v} {d:.3f}" for v, d in style["closest"][1:]) +
              f"; {style['videos_compared']} videos compared); its window {style['window']} sets the style")
    for note in summary["notes"]:
        print(f"  note: {note}")
    return 0


def _pull(args: argparse.Namespace) -> int:
    """dvc pull from the default (or -r) remote. DVC's own failure message names neither the remote nor whether it
    could be reached; this does, and lists what the remote lacks. After a pull, Snakemake adopts the outputs."""
    import json
    import os
    import subprocess

    from dvc.exceptions import NotDvcRepoError
    from dvc.repo import Repo

    try:
        config = Repo(".").config
    except NotDvcRepoError:
        print(f"gesturegen pull: {Path.cwd()} is not a DVC repository; run it from the repository root",
              file=sys.stderr)
        return 2
    name = args.remote or config["core"].get("remote")
    if not name or name not in config["remote"]:
        print(f"gesturegen pull: no remote {name!r} (configured: {sorted(config['remote']) or 'none'}); add one "
              f"with `dvc remote add -d NAME URL`", file=sys.stderr)
        return 2
    url = str(config["remote"][name].get("url", ""))
    if "://" not in url and not os.path.isdir(url):
        print(f"gesturegen pull: remote '{name}' ({url}) cannot be reached: the folder does not exist. Push to it "
              f"where the pipeline ran (`dvc push -r {name}`), mount it, or point it elsewhere "
              f"(`dvc remote modify --local {name} url PATH`)", file=sys.stderr)
        return 1
    dvc = [sys.executable, "-m", "dvc"]
    if subprocess.run([*dvc, "pull", "-r", name], check=False).returncode == 0:
        if Path("workflow/Snakefile").is_file():
            return subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1", "--touch", "--quiet"],
                                  check=False).returncode
        return 0
    st = subprocess.run([*dvc, "status", "--cloud", "-r", name, "--json"], capture_output=True, text=True,
                        check=False)
    try:
        missing = sorted(k for k, v in json.loads(st.stdout or "{}").items() if v == "missing")
    except json.JSONDecodeError:
        missing = []
    shown = "\n  ".join(missing[:20]) + (f"\n  ... and {len(missing) - 20} more" if len(missing) > 20 else "")
    print(f"gesturegen pull: remote '{name}' ({url}) does not hold {len(missing)} of the tracked outputs"
          + (f":\n  {shown}\n" if missing else " (see DVC's message above)\n")
          + f"Push them where they were computed (`dvc push -r {name}`), or recompute them (`snakemake --cores all`)",
          file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="gesturegen", description=__doc__.splitlines()[0])
    ap.add_argument("--version", action="version", version=f"gesturegen {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("params", help="validate params.yaml and print it resolved")
    p.add_argument("path", nargs="?", type=Path, default=Path("params.yaml"))
    p.set_defaults(func=_params)
    w = sub.add_parser("windows", help="summarise a build_windows split folder")
    w.add_argument("split_dir", type=Path)
    w.set_defaults(func=_windows)
    t = sub.add_parser("plots-template", help="write the offline HTML template for `dvc plots show`")
    t.add_argument("path", type=Path)
    t.set_defaults(func=_plots_template)
    wu = sub.add_parser("warm-up", help="compile librosa's numba kernels into this environment's cache")
    wu.set_defaults(func=_warm_up)
    g = sub.add_parser("generate", help="gestures for a recording with the trained models (motion.npz, motion.bvh, "
                                     "video.mp4)")
    g.add_argument("speech", type=Path, help="a WAV file (any sample rate and channel count)")
    g.add_argument("--out", type=Path, required=True, help="output folder (refused if it exists and is not empty)")
    g.add_argument("--transcript", type=Path, help="plain-text transcript, aligned to the speech offline")
    g.add_argument("--words", type=Path, help="word timings: word<TAB>start<TAB>end in seconds")
    g.add_argument("--asr-model", type=Path, help="word timings by speech recognition: a local faster-whisper "
                                                  "(CTranslate2 Whisper) model folder")
    g.add_argument("--language", default="en", help="the speech's language for a multilingual --asr-model "
                                                    "(default: en)")
    g.add_argument("--allow-unaligned", action="store_true",
                   help="if the transcript cannot be aligned (or recognition finds no words), generate without "
                        "word timings instead of failing")
    g.add_argument("--dataset", help="whose models (default: the first of params.yaml's datasets)")
    g.add_argument("--checkpoint", help="the diffusion models' folder with a {part} placeholder (default: "
                                        "results/diffusion/<dataset>-{part}/model)")
    g.add_argument("--normalization", type=Path, help="the dataset's normalization.json (default: build_windows')")
    g.add_argument("--params", type=Path, default=Path("params.yaml"))
    g.add_argument("--seed", type=int, help="noise seed (default: params.yaml's seed)")
    g.add_argument("--steps", type=int, help="sampler steps (default: params.yaml's diffusion.sampler.steps)")
    g.add_argument("--force", action="store_true", help="write into an existing, non-empty --out")
    g.add_argument("--no-video", action="store_true", help="skip video.mp4 (motion.npz and motion.bvh only)")
    g.add_argument("--style", type=Path, help="the style condition (default: none): a clip of the speaker's motion "
                                              "(.npz with 'vectors' and 'skeleton', e.g. a motion.npz; its middle "
                                              "window), or a recording of the speaker's voice (.wav; the training "
                                              "video with the closest voice lends its motion)")
    g.add_argument("--style-windows", type=Path, help="for a .wav --style: build_windows' folder of the models' run "
                                                      "(default: results/build_windows/<dataset>/windows)")
    g.add_argument("--style-features", type=Path, help="for a .wav --style: extract_features' folder of the models' "
                                                       "run (default: results/extract_features/<dataset>/features)")
    g.set_defaults(func=_generate)
    pu = sub.add_parser("pull", help="dvc pull, naming the remote and what it lacks on failure; then Snakemake adopts "
                                     "the outputs")
    pu.add_argument("-r", "--remote", help="the DVC remote (default: the repository's default remote)")
    pu.set_defaults(func=_pull)
    args = ap.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
