"""Neural network modules (tensors in, tensors out; no files, no params.yaml)."""
from gesturegen.models.fgd_encoder import (
    AQGTEmbeddingNet,
    CheckpointLayoutError,
    EmbeddingNetConfig,
    FeatureExtractor,
    MotionAE,
    MotionAEConfig,
    load_encoder,
    load_published_aqgt_embedding,
    load_published_motion_ae,
    save_encoder,
)

__all__ = [
    "AQGTEmbeddingNet", "CheckpointLayoutError", "EmbeddingNetConfig", "FeatureExtractor", "MotionAE",
    "MotionAEConfig", "load_encoder", "load_published_aqgt_embedding", "load_published_motion_ae", "save_encoder",
]
