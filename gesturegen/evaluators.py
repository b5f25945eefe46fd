"""Scorers of evaluated motion by the trained evaluators, for the evaluation protocol's hook.

A scorer is a callable `(split, gen, rows, rng) -> dict[str, float]`:
    split  the evaluated split's name ("val", "test")
    gen    (n, T, D) evaluated motion, mean-subtracted direction vectors (as build_windows stores dir_vec)
    rows   (n,) indices into that split's windows: gen[i] is the motion evaluated for window rows[i]
    rng    numpy Generator (the distractor draws of R-precision)

    sync_scorer   -> rprec_top1, rprec_top2, rprec_top3 (among `pool` = 32: chance k/32), mm_dist
    oracle_scorer -> lexical_acc, speaker_acc; {} when the dataset has no annotations (`scorer.skipped` says why)

`open_sync_scorer` / `open_oracle_scorer` build them from the stage folders, `open_extractor` the FGD feature
function. No params.yaml here: the caller passes paths and knobs.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from gesturegen.metrics.retrieval import multimodal_distance, r_precision
from gesturegen.models.oracles import EventCrops, Oracles, event_crops, load_oracles
from gesturegen.models.sync_evaluator import EvaluatorMismatchError, SyncEvaluator, load_sync_evaluator


def open_extractor(encoder_dir: str | Path, normalization: Mapping, skeleton, dataset: str, device: str = "cpu"):
    """The FGD feature function of train_fgd_encoder's folder, `x (N, T, D) mean-subtracted -> (N, d)`, and the
    encoder's info. A published checkpoint gets inputs re-centred on its own mean (the windows' `normalization`:
    build_windows' normalization.json). An extractor of another dataset is refused, naming both."""
    from gesturegen.models.fgd_encoder import load_encoder, read_encoder_info, recentring_offset

    info = read_encoder_info(encoder_dir)
    if info.get("dataset") not in (None, dataset):
        raise EvaluatorMismatchError(f"{encoder_dir}: an FGD extractor for dataset {info['dataset']!r}, evaluating "
                                     f"{dataset!r}; pass --encoder results/train_fgd_encoder/{dataset}/encoder")
    encoder = load_encoder(encoder_dir).to(device)
    offset = recentring_offset(info.get("source", "trained"), normalization["source"],
                               np.asarray(normalization["mean_dir_vec"], dtype=np.float32),
                               skeleton.published_means()[1])

    def features(x: np.ndarray) -> np.ndarray:
        return encoder.features(x, offset=offset)

    features.recentred = offset is not None
    return features, info


def _check_rows(split: str, gen: np.ndarray, rows: np.ndarray, n_windows: int) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.int64)
    if gen.ndim != 3 or rows.shape != (gen.shape[0],):
        raise ValueError(f"split {split!r}: gen must be (n, T, D) and rows (n,), got {gen.shape} and {rows.shape}")
    if rows.size and (rows.min() < 0 or rows.max() >= n_windows):
        raise ValueError(f"split {split!r}: rows must index its {n_windows} windows, got {rows.min()}..{rows.max()}")
    return rows


# --- sync evaluator -------------------------------------------------------------------------------------------------

def check_features_match(evaluator: SyncEvaluator, meta: dict, where: str | Path) -> None:
    """Refuse features of another dataset, encoders or dims than the evaluator was trained on (names both)."""
    want = evaluator.info.get("features", {})
    have = {"dataset": meta.get("dataset"), "audio_encoder": meta.get("encoders", {}).get("audio", {}).get("name"),
            "text_encoder": meta.get("encoders", {}).get("text", {}).get("name"),
            "audio_dim": meta.get("dims", {}).get("audio_frames"), "text_dim": meta.get("dims", {}).get("text_frames")}
    trained = {"dataset": evaluator.info.get("dataset"), **{k: want.get(k) for k in list(have)[1:]}}
    if not want.get("use_text"):
        have.pop("text_encoder"), have.pop("text_dim"), trained.pop("text_encoder"), trained.pop("text_dim")
    diff = {k: (trained[k], have[k]) for k in trained if trained[k] != have[k]}
    if diff:
        parts = ", ".join(f"{k} {a!r} (evaluator) vs {b!r} (features)" for k, (a, b) in diff.items())
        raise EvaluatorMismatchError(
            f"sync evaluator {getattr(evaluator, 'directory', '')} does not fit the features {where}: {parts}; "
            f"re-run train_sync_evaluator on these features (same dataset and extract_features encoders)")


class SyncScorer:
    """R-precision and multimodal distance of evaluated motion against its window's speech (precomputed)."""

    def __init__(self, evaluator: SyncEvaluator, speech: Mapping[str, tuple[np.ndarray, np.ndarray]],
                 pool: int = 32, trials: int = 10):
        self.evaluator, self.speech, self.pool, self.trials = evaluator, dict(speech), pool, trials

    def __call__(self, split: str, gen: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> dict[str, float]:
        if split not in self.speech:
            raise KeyError(f"sync scorer: no speech embeddings for split {split!r} (have {sorted(self.speech)})")
        emb, vids = self.speech[split]
        rows = _check_rows(split, gen, rows, emb.shape[0])
        m = self.evaluator.embed_motion(gen)
        s = emb[rows]
        rp = r_precision(s, m, vids[rows], rng, pool=self.pool, trials=self.trials)
        return {**{f"rprec_{k}": v for k, v in rp.items()}, "mm_dist": multimodal_distance(s, m)}


def sync_scorer(evaluator: SyncEvaluator, features_by_split: Mapping, video_ids_by_split: Mapping[str, np.ndarray],
                pool: int = 32, trials: int = 10) -> SyncScorer:
    """A SyncScorer over each split's FeatureSplit (gesturegen.features.open_features) and window video ids; the
    speech embeddings of every window are computed here, once."""
    speech = {}
    for split, f in features_by_split.items():
        check_features_match(evaluator, f.meta, f.path)
        vids = np.asarray(video_ids_by_split[split])
        if vids.shape != (len(f),):
            raise ValueError(f"split {split!r}: {vids.shape[0]} video ids for {len(f)} feature windows")
        speech[split] = (evaluator.embed_speech(f.audio_frames, f.text_frames), vids)
    return SyncScorer(evaluator, speech, pool, trials)


def open_sync_scorer(evaluator_dir: str | Path, features_dir: str | Path, windows_dir: str | Path,
                     splits: Sequence[str], dataset: str | None = None, pool: int = 32,
                     trials: int = 10) -> SyncScorer:
    """load_sync_evaluator + the splits' features (<features_dir>/<split>) and video ids (<windows_dir>/<split>)."""
    from gesturegen.data.windowstore import open_split
    from gesturegen.features import open_features

    ev = load_sync_evaluator(evaluator_dir, dataset)
    feats, vids = {}, {}
    for s in splits:
        w = open_split(Path(windows_dir) / s)
        feats[s] = open_features(Path(features_dir) / s, w)
        vids[s] = np.asarray(w.video_ids)
        check_motion_match(ev.info.get("motion", {}), w.meta, Path(windows_dir), f"sync evaluator {evaluator_dir}")
    return sync_scorer(ev, feats, vids, pool, trials)


def check_motion_match(trained: dict, meta: dict, windows_dir: Path, what: str) -> None:
    """The windows' dims and normalisation must be those the evaluator was trained on."""
    have = {"dim": meta.get("dim"), "n_frames": meta.get("n_frames"), "normalization": meta.get("normalization")}
    diff = {k: (trained.get(k), v) for k, v in have.items() if k in trained and trained.get(k) != v}
    if diff:
        parts = ", ".join(f"{k} {a!r} (trained) vs {b!r} (windows)" for k, (a, b) in diff.items())
        raise EvaluatorMismatchError(f"{what} does not fit the windows {windows_dir}: {parts}; retrain it on these "
                                     f"windows")


# --- oracles --------------------------------------------------------------------------------------------------------

class OracleScorer:
    """Lexical gesture accuracy and speaker accuracy of evaluated motion (demo only)."""

    def __init__(self, oracles: Oracles, crops: Mapping[str, EventCrops], speaker: Mapping[str, np.ndarray],
                 skipped: str | None = None):
        self.oracles, self.crops, self.speaker, self.skipped = oracles, dict(crops), dict(speaker), skipped
        self._order = {s: np.argsort(c.window, kind="stable") for s, c in self.crops.items()}

    def __call__(self, split: str, gen: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> dict[str, float]:
        if self.skipped or split not in self.speaker:
            return {}
        spk = self.speaker[split]
        rows = _check_rows(split, gen, rows, spk.shape[0])
        out: dict[str, float] = {}
        if self.oracles.lexical is not None:
            c, order = self.crops[split], self._order[split]
            win = c.window[order]
            lo, hi = np.searchsorted(win, rows, "left"), np.searchsorted(win, rows, "right")
            counts = hi - lo
            if counts.sum():
                ev = order[np.concatenate([np.arange(a, b) for a, b in zip(lo, hi)])]
                gen_row = np.repeat(np.arange(rows.size), counts)     # the gen row of each of the query's events
                offs = c.start[ev][:, None] + np.arange(c.crop_frames)[None]
                x = np.asarray(gen[gen_row[:, None], offs], np.float32)
                out["lexical_acc"] = float((self.oracles.lexical.predict(x) == c.label[ev]).mean())
        if self.oracles.speaker is not None:
            want = spk[rows]
            known = want >= 0
            if known.any():
                pred = self.oracles.speaker.predict(np.asarray(gen[known], np.float32))
                out["speaker_acc"] = float((pred == want[known]).mean())
        return out


def oracle_scorer(oracles: Oracles, annotations_by_split: Mapping, n_frames: int, fps: float) -> OracleScorer:
    """An OracleScorer over each split's WindowAnnotations (None: that split has none). Without annotations, or
    with oracles that are not available, the scorer returns {} and `.skipped` says why."""
    if not oracles.available:
        return OracleScorer(oracles, {}, {}, skipped=f"skipped: {oracles.info.get('reason', 'no oracles')}")
    missing = [s for s, a in annotations_by_split.items() if a is None]
    if missing:
        return OracleScorer(oracles, {}, {}, skipped=f"skipped: no annotations for split(s) {missing}")
    crops, speaker = {}, {}
    spk_index = {s: i for i, s in enumerate(oracles.speakers)}
    for split, ann in annotations_by_split.items():
        crops[split] = event_crops(ann, oracles.labels, n_frames, fps, int(oracles.info["crop_frames"]),
                                   float(oracles.info["min_inside"]), where=f"split {split!r}",
                                   skip=int(oracles.info.get("skip_frames", 0)))
        # speakers the classifier never saw cannot be recognised: excluded from speaker_acc (-1)
        speaker[split] = np.array([spk_index.get(ann.speakers[i], -1) for i in ann.speaker], dtype=np.int64)
    return OracleScorer(oracles, crops, speaker)


def open_oracle_scorer(oracles_dir: str | Path, windows_dir: str | Path, splits: Sequence[str],
                       dataset: str | None = None) -> OracleScorer:
    """load_oracles + load_window_annotations(<windows_dir>/<split>) for each split."""
    from gesturegen.data.annotations import load_window_annotations
    from gesturegen.io import read_json

    oracles = load_oracles(oracles_dir, dataset)
    meta = read_json(Path(windows_dir) / splits[0] / "meta.json") if splits else {}
    if oracles.available:
        check_motion_match(oracles.info.get("motion", {}), meta, Path(windows_dir), f"oracles {oracles_dir}")
    anns = {s: load_window_annotations(Path(windows_dir) / s) for s in splits}
    return oracle_scorer(oracles, anns, int(meta.get("n_frames", 34)), float(meta.get("fps", 15)))


def open_scorers(windows_dir: str | Path, features_dir: str | Path, splits: Sequence[str], dataset: str,
                 sync_dir: str | Path | None = None, oracles_dir: str | Path | None = None, pool: int = 32,
                 trials: int = 10) -> tuple:
    """The plug-in scorers of the v2 protocol that are given: the sync evaluator (R-precision, multimodal
    distance) and the oracles (lexical gesture and speaker accuracy), in that order."""
    scorers: tuple = ()
    if sync_dir is not None:
        scorers += (open_sync_scorer(sync_dir, features_dir, windows_dir, list(splits), dataset, pool=pool,
                                     trials=trials),)
    if oracles_dir is not None:
        scorers += (open_oracle_scorer(oracles_dir, windows_dir, list(splits), dataset),)
    return scorers
