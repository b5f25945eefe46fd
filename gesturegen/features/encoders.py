"""Build the audio and text encoders that params ask for; the heavy modules are imported only when chosen."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from gesturegen.features.common import AudioEncoder, TextEncoder, cached_snapshot

if TYPE_CHECKING:
    from gesturegen.config import ExtractFeaturesParams


def make_encoders(p: ExtractFeaturesParams, *, sample_rate_hz: int, fps: float, seed: int,
                  root: str | Path = ".", device: str = "cpu") -> tuple[AudioEncoder, TextEncoder]:
    """The audio and text encoders that params `extract_features` asks for; relative model folders are resolved
    against `root` (the repository root) but recorded in the meta as written in params."""
    root = Path(root)

    def where(d: str) -> Path:
        path = Path(d) if Path(d).is_absolute() else root / d
        return path if path.exists() else cached_snapshot(d) or path

    if p.audio_encoder == "default":
        from gesturegen.features.audio import DefaultAudioEncoder
        audio: AudioEncoder = DefaultAudioEncoder(sample_rate_hz=sample_rate_hz, fps=fps, n_mels=p.n_mels,
                                                  pitch=p.pitch, voicing_threshold=p.voicing_threshold)
    else:
        from gesturegen.features.data2vec import Data2VecAudioEncoder
        audio = Data2VecAudioEncoder(where(p.data2vec_audio_dir), sample_rate_hz=sample_rate_hz, fps=fps,
                                     pooling=p.data2vec_audio_pooling, seed=seed, device=device,
                                     display_dir=p.data2vec_audio_dir)
    if p.text_encoder == "default":
        from gesturegen.features.text import MiniLMTextEncoder
        text: TextEncoder = MiniLMTextEncoder(where(p.minilm_dir) if p.minilm_dir else None, fps=fps, device=device,
                                              display_dir=p.minilm_dir or None)
    else:
        from gesturegen.features.data2vec import Data2VecTextEncoder
        text = Data2VecTextEncoder(where(p.data2vec_text_dir), fps=fps, device=device,
                                   display_dir=p.data2vec_text_dir)
    return audio, text
