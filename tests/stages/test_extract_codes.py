"""The extract_codes stage on a small windows world (tests.evaluator_world) and a randomly initialised VQ-VAE."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from gesturegen.codes import CodesError, open_codes
from gesturegen.data.skeleton import TED_EXPRESSIVE
from gesturegen.data.windowstore import open_split
from gesturegen.io import read_json, write_json
from gesturegen.models.vqvae import VQVAE, VQVAEConfig, VQVAEMismatchError, load_vqvae, save_vqvae
from stages import extract_codes
from tests.conftest import write_params
from tests.evaluator_world import make_split, write_windows, write_world

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SIZES = {"train": (6, 10), "val": (3, 8), "test": (2, 8)}


def _normalization(windows, dim=126):
    mean = TED_EXPRESSIVE.published_means()[1].reshape(-1) if dim == 126 else np.zeros(dim, np.float32)
    write_json(windows / "normalization.json", {"source": "published", "mean_dir_vec": mean})


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("world")
    windows, _ = write_world(root, sizes=SIZES)
    _normalization(windows)
    torch.manual_seed(0)
    model = VQVAE(VQVAEConfig(in_dim=126, out_dim=36, width=16, code_dim=32, codebook_size=64))
    model.train()
    model(torch.as_tensor(np.array(open_split(windows / "train").dir_vec)))     # initialises the codebook
    save_vqvae(model.eval(), root / "model", {"dataset": "demo", "part": "body", "skeleton": "ted_expressive"})
    params = write_params(root / "params.yaml")
    return root, windows, root / "model", params


def _main(world, out, **over):
    _, windows, model, params = world
    args = {"--params": params, "--dataset": "demo", "--part": "body", "--windows": windows, "--model": model,
            "--out-dir": out, **over}
    extract_codes.main([str(x) for kv in args.items() for x in kv])
    return out


@pytest.fixture(scope="module")
def extracted(world):
    return _main(world, world[0] / "out")


def test_codes_match_the_model_and_the_windows(world, extracted):
    _, windows, model_dir, _ = world
    model = load_vqvae(model_dir)
    for split, (nv, per) in SIZES.items():
        w = open_split(windows / split)
        c = open_codes(extracted / "codes" / split, w)
        n = nv * per
        assert c.indices.shape == (n, 4) and c.indices.dtype == np.int16
        assert c.latents.shape == (n, 4, 32) and c.latents.dtype == np.float32
        assert c.indices.min() >= 0 and c.indices.max() < 64
        assert c.meta["dataset"] == "demo" and c.meta["part"] == "body" and c.meta["codebook_size"] == 64
        x = torch.as_tensor(np.array(w.dir_vec))
        want = model.code_indices(x)
        assert np.array_equal(c.indices, want.numpy())
        with torch.no_grad():
            np.testing.assert_allclose(model.decode_indices(torch.as_tensor(np.array(c.indices), dtype=torch.int64)),
                                       model.decode_indices(want), rtol=0, atol=0)
            np.testing.assert_allclose(c.latents, model.encode(x).numpy(), atol=1e-5)


def test_report_metrics_and_plots(extracted):
    m, rep = read_json(extracted / "metrics.json"), read_json(extracted / "report.json")
    assert set(m) == {"perplexity", "dead", "device"}
    assert 0 <= m["dead"] < 64 and 1 <= m["perplexity"] <= 64 - m["dead"]
    assert rep["n_windows"] == {"train": 60, "val": 24, "test": 16}
    assert len(rep["usage"]["val"]["steps"]) == 4 and rep["usage"]["train"]["overall"]["n"] == 240
    assert abs(rep["perplexity"]["train"]["overall"] - m["perplexity"]) < 1e-3
    assert len(rep["dead_codes_train"]) == m["dead"]
    tops = rep["top_tuples_train"]
    assert 1 <= len(tops) <= 10 and len(tops[0]["codes"]) == 4
    assert [t["count"] for t in tops] == sorted((t["count"] for t in tops), reverse=True)
    assert rep["embeddings"]["colours"] == ["speaker", "lexical gesture"]
    for name, rel in rep["plots"].items():
        data = (extracted / rel).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000, name
    assert set(rep["plots"]) == {"usage", "perplexity", "pca", "tsne", "top_tuples"}
    assert read_json(extracted / "timings.json")["total_seconds"] > 0


@pytest.mark.parametrize("over, what", [({"--part": "hand"}, "part 'body', not 'hand'"),
                                        ({"--dataset": "ted_expressive"}, "dataset 'demo', not 'ted_expressive'")])
def test_refuses_a_model_of_another_part_or_dataset(world, extracted, over, what):
    before = (extracted / "metrics.json").read_bytes()
    with pytest.raises(VQVAEMismatchError, match=what):
        _main(world, extracted, **over)
    assert (extracted / "metrics.json").read_bytes() == before        # the previous outputs are untouched


def test_refuses_windows_of_another_dimension(world, tmp_path):
    rng = np.random.default_rng(1)
    for split, (nv, per) in SIZES.items():
        data = make_split(rng, nv, per)
        data["dir_vec"] = np.concatenate([data["dir_vec"], data["dir_vec"][..., :33]], -1)     # 159 dims
        write_windows(tmp_path / "w" / split, data, split, annotations=False)
    _normalization(tmp_path / "w", 159)
    with pytest.raises(extract_codes.ExtractCodesError, match=r"\(34, 159\).*expects \(34, 126\).*--windows"):
        _main(world, tmp_path / "out", **{"--windows": tmp_path / "w"})
    assert not (tmp_path / "out" / "codes").exists()


def test_open_codes_refuses_other_windows(world, extracted, tmp_path):
    _, windows, _, _ = world
    with pytest.raises(CodesError, match="codes of 24 windows, but .*train has 60"):
        open_codes(extracted / "codes" / "val", windows / "train")
    other, _ = write_world(tmp_path, seed=5, sizes=SIZES)                    # same sizes, other content
    with pytest.raises(CodesError, match="dir_vec_blake2b.*differ"):
        open_codes(extracted / "codes" / "val", other / "val")
    broken = tmp_path / "broken"
    shutil.copytree(extracted / "codes" / "val", broken)
    np.save(broken / "indices.npy", np.zeros((3, 4), np.int16))
    with pytest.raises(CodesError, match=r"indices.npy: int16 \(3, 4\), but .* says int16 \(24, 4\)"):
        open_codes(broken)
    np.save(broken / "indices.npy", np.full((24, 4), 64, np.int16))
    with pytest.raises(CodesError, match=r"outside \[0, 64\)"):
        open_codes(broken)


def test_residual_levels_every_code_stored(world, tmp_path):
    """A VQ-VAE of 3 residual levels: every level's code of every window is stored, decodes to the model's own
    reconstruction, and each level's usage is reported; the plots read the first level."""
    import dataclasses

    root, windows, _, _ = world
    torch.manual_seed(0)
    base = VQVAEConfig(in_dim=126, out_dim=36, width=16, code_dim=32, codebook_size=64)
    model = VQVAE(dataclasses.replace(base, levels=3)).train()
    x = torch.as_tensor(np.array(open_split(windows / "train").dir_vec))
    model(x)                                                              # initialises every codebook
    save_vqvae(model.eval(), tmp_path / "model", {"dataset": "demo", "part": "body", "skeleton": "ted_expressive"})
    out = _main(world, tmp_path / "out", **{"--model": tmp_path / "model"})
    c = open_codes(out / "codes" / "train", open_split(windows / "train"))
    assert c.indices.shape == (60, 4, 3) and c.meta["levels"] == 3
    with torch.no_grad():
        torch.testing.assert_close(model.decode_indices(torch.as_tensor(np.array(c.indices), dtype=torch.int64)),
                                   model(x).recon)
    rep = read_json(out / "report.json")
    assert [lv["level"] for lv in rep["residual_levels_train"]] == [0, 1, 2]
    assert rep["perplexity"]["train"]["overall"] == pytest.approx(rep["residual_levels_train"][0]["perplexity"],
                                                                   abs=1e-3)
    assert all((out / "plots" / f"{n}.png").is_file() for n in ("usage", "perplexity", "pca", "tsne", "top_tuples"))
