"""The speaker whose style a recording's voice is closest to: `gesturegen generate --style REF.wav`.

A speech recording carries no motion, so the style condition cannot be encoded from it directly. Instead the voice
is compared with the training videos' voices and the closest video's motion gives the style (the models learned
style per video: ldmc-spec's style positives are windows of the same video).

The voice signature is computed from the frame features that extract_features stores (and that gesturegen generate
computes for any recording the same way), so the training side needs no extra stage:

- default audio encoder (log-mel, onset, RMS, f0, voicing): over the voiced frames, the log-mel *shape* (each frame's
  dB minus its mean over the bands: loudness and recording gain drop out) and the log-f0 median and spread. The two
  blocks weigh equally in the distance (64 shape dimensions would otherwise drown the 2 pitch ones);
- any other encoder (data2vec frames): the mean and standard deviation of the frames, one block.

Each dimension is scaled by how much it varies within one voice (between the two halves of each training video),
so the dimensions that the words move count for less than the stable ones. On the demo run (70 training videos of 4
espeak-ng speakers), references cut from the val and test videos find a video of their own speaker 97.1 % of the
time from 3 s of speech, 99.5 % from 5 s and 100 % from 10 s (scaling by the spread across videos instead: 86.8,
91.6, 96.4 %). Arrays in, arrays out: the files are resolved by gesturegen.generate.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

MIN_VOICED_FRAMES = 15          # one second of voiced speech at 15 fps


def frames_per_video(table, frames: np.ndarray, n_frames: int) -> dict[str, np.ndarray]:
    """Each video's frame features (K, D) from a split's windows.csv table and its (N, T, D) frame features: the
    non-overlapping windows of each clip (every frame of the clips once, up to the windows' stride), in table order."""
    out: dict[str, list[int]] = {}
    for (vid, _), clip in table.sort_values("start_frame", kind="stable").groupby(["vid", "clip"], sort=False):
        keep, last = out.setdefault(str(vid), []), None
        for row, start in zip(clip["window"].tolist(), clip["start_frame"].tolist()):
            if last is None or start >= last + n_frames:
                keep.append(row)
                last = start
    return {vid: np.asarray(frames[np.sort(rows)]).reshape(-1, frames.shape[-1]) for vid, rows in out.items()}


class VoiceError(ValueError):
    """A recording that gives no usable voice signature (too little voiced speech); the message says what to give."""


def _columns(names: Sequence[str]) -> dict | None:
    """The default encoder's columns (mel bands, f0, voicing) or None for an encoder without them."""
    mel = [i for i, n in enumerate(names) if n.startswith("mel_")]
    if not mel or "f0_hz" not in names or "voiced" not in names:
        return None
    return {"mel": np.array(mel), "f0": list(names).index("f0_hz"), "voiced": list(names).index("voiced")}


def signature_blocks(names: Sequence[str], signature_dim: int) -> list[slice]:
    """The blocks of a signature of `signature_dim` values, each weighing equally in the distance."""
    cols = _columns(names)
    if cols is None:
        return [slice(0, signature_dim)]
    n = len(cols["mel"])
    return [slice(0, n), slice(n, n + 2)]


def voice_signature(frames: np.ndarray, names: Sequence[str], what: str = "the recording") -> np.ndarray:
    """The voice signature of frame features (K, D) (frames of one speaker; the order does not matter). Fewer than
    MIN_VOICED_FRAMES voiced frames (default encoder) or frames is refused, naming `what`."""
    x = np.asarray(frames, np.float64).reshape(-1, np.shape(frames)[-1])
    cols = _columns(names)
    if cols is None:
        if x.shape[0] < MIN_VOICED_FRAMES:
            raise VoiceError(f"{what}: {x.shape[0]} frames; a voice reference needs at least {MIN_VOICED_FRAMES}")
        return np.concatenate([x.mean(0), x.std(0)])
    voiced = (x[:, cols["voiced"]] > 0.5) & (x[:, cols["f0"]] > 0)
    if voiced.sum() < MIN_VOICED_FRAMES:
        raise VoiceError(f"{what}: {int(voiced.sum())} voiced frames; a voice reference needs at least "
                         f"{MIN_VOICED_FRAMES} (about a second of speech)")
    mel = x[voiced][:, cols["mel"]]
    shape = (mel - mel.mean(1, keepdims=True)).mean(0)
    log_f0 = np.log(x[voiced, cols["f0"]])
    return np.concatenate([shape, [np.median(log_f0), log_f0.std()]])


@dataclass(frozen=True)
class VoiceIndex:
    """The training videos' voice signatures (V, S) and each dimension's scale: its spread within a voice (between
    the two halves of each video; across videos when fewer than two videos have two voiced halves)."""
    videos: tuple[str, ...]
    signatures: np.ndarray
    scale: np.ndarray
    blocks: tuple[slice, ...]

    @classmethod
    def build(cls, frames_per_video: Mapping[str, np.ndarray], names: Sequence[str]) -> VoiceIndex:
        """From each video's frame features (K, D); a video with too little voiced speech is left out (the caller
        counts them: `len(frames_per_video) - len(index.videos)`). At least one video must remain."""
        videos, sigs = [], []
        for vid, frames in frames_per_video.items():
            try:
                sigs.append(voice_signature(frames, names, f"video {vid}"))
            except VoiceError:
                continue
            videos.append(vid)
        if not videos:
            raise VoiceError(f"none of the {len(frames_per_video)} training videos has {MIN_VOICED_FRAMES} voiced "
                             f"frames: no voice to compare with")
        s = np.stack(sigs)
        # the scale of each dimension: how much it varies within a voice (the first half of a video's frames
        # against the second: other words, same speaker), not across videos; stable dimensions (the pitch, the
        # voice's formant region) then count for more than the ones the words move
        halves = []
        for vid in videos:
            x = np.asarray(frames_per_video[vid])
            try:
                halves.append(voice_signature(x[:len(x) // 2], names) - voice_signature(x[len(x) // 2:], names))
            except VoiceError:
                continue
        if len(halves) >= 2:
            scale = np.sqrt((np.stack(halves) ** 2).mean(0))
        else:
            scale = s.std(0) if len(videos) > 1 else np.ones(s.shape[1])
        scale = np.where(scale > 1e-9, scale, 1.0)
        return cls(tuple(videos), s, scale, tuple(signature_blocks(names, s.shape[1])))

    def distances(self, signature: np.ndarray) -> np.ndarray:
        """(V,) distance of each video's voice to the signature: the blocks' mean squared standardised differences,
        summed, square-rooted."""
        z = (self.signatures - np.asarray(signature)[None]) / self.scale
        return np.sqrt(sum((z[:, b] ** 2).mean(1) for b in self.blocks))

    def ranking(self, signature: np.ndarray, k: int = 3) -> list[tuple[str, float]]:
        """The k closest videos, closest first, with their distances (ties broken by the video order)."""
        d = self.distances(signature)
        order = np.argsort(d, kind="stable")[:k]
        return [(self.videos[i], float(d[i])) for i in order]
