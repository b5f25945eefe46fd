"""Small body and hand models of the demo's TED skeleton, saved with the stages' save functions, for the tests of
`gesturegen generate` and render_videos."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tests.conftest import ROOT


def save_tiny_models(root: Path) -> Path:
    """Body and hand VQ-VAEs and diffusion models at tiny sizes, with the feature dims of the repository's params
    (default audio encoder, MiniLM text), random EMA weights (zero-initialised outputs would ignore every
    condition); root/d-{part} (diffusion, naming root/vq-{part}) and root/norm.json (the published mean vectors)."""
    import torch

    from gesturegen.config import load_params
    from gesturegen.data.skeleton import get_skeleton
    from gesturegen.features.audio import DefaultAudioEncoder
    from gesturegen.models.denoisers import DenoiserConfig
    from gesturegen.models.latent_diffusion import LatentDiffusion, LatentDiffusionConfig, save_diffusion
    from gesturegen.models.vqvae import VQVAE, VQVAEConfig, part_dims, save_vqvae

    root.mkdir(parents=True, exist_ok=True)
    p = load_params(ROOT / "params.yaml").extract_features
    audio = DefaultAudioEncoder(sample_rate_hz=16000, fps=15, n_mels=p.n_mels, pitch=p.pitch,
                                voicing_threshold=p.voicing_threshold)
    skeleton = get_skeleton("ted_expressive")
    torch.manual_seed(0)
    for part in ("body", "hand"):
        dims = part_dims(skeleton, part)
        vq = VQVAE(VQVAEConfig(in_dim=126, out_dim=dims.size, width=8, code_dim=16, codebook_size=8)).eval()
        vq_dir = save_vqvae(vq, root / f"vq-{part}", {"dataset": "demo", "part": part})
        dc = DenoiserConfig(n_latent=4, code_dim=16, n_frames=34,
                            audio_frame_dim=audio.frame_dim, text_frame_dim=384, audio_pooled_dim=audio.pooled_dim,
                            text_pooled_dim=384, seed_dim=4 * 126, style_dim=32, width=32, layers=1, heads=4,
                            steps=20)
        m = LatentDiffusion(LatentDiffusionConfig(denoiser=dc, steps=20)).eval()
        for w in m.ema.parameters():                 # zero-initialised outputs would ignore every condition
            torch.nn.init.normal_(w, std=0.1)
        info = json.loads((vq_dir / "config.json").read_text())
        save_diffusion(m, root / f"d-{part}", {
            "dataset": "demo", "part": part, "skeleton": "ted_expressive", "fps": 15, "n_frames": 34,
            "n_seed_frames": 4, "part_dims": dims.tolist(),
            "vqvae": {"dataset": "demo", "part": part, "config": info["config"], "path": str(vq_dir)}})
    mean = np.asarray(skeleton.published_means()[1], np.float64).reshape(-1)
    (root / "norm.json").write_text(json.dumps({"mean_dir_vec": mean.tolist()}))
    return root
