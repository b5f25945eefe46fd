import pytest

from gesturegen.config import ParamsError, load_params, params_from_dict
from tests.conftest import ROOT, write_params


def test_repository_params_load():
    p = load_params(ROOT / "params.yaml")
    assert p.datasets == ("demo",)
    assert p.build_windows.n_frames == 34 and p.build_windows.stride == 10
    assert p.diffusion.steps == 100
    assert set(p.data_sources) >= {"demo", "ted_expressive", "aqgt"}


@pytest.mark.parametrize("change, message", [
    ({"build_windows.stride": "10"}, "build_windows.stride: expected int, got str ('10')"),
    ({"build_windows.strides": 10}, "build_windows.strides: unknown key"),
    ({"build_windows.filters.pose_threshold": "x"}, "build_windows.filters.pose_threshold: expected float"),
    ({"build_windows.span": "long"}, "build_windows.span: expected one of 'exact', 'faithful', got 'long'"),
    ({"seed": 1.5}, "seed: expected int, got float"),
    ({"datasets": ["demo", "nope"]}, "datasets: 'nope' has no entry under data_sources"),
    ({"data_sources.demo.skeleton": "smpl"}, "data_sources.demo.skeleton: expected one of"),
    ({"make_demo_data.n_speakers": True}, "make_demo_data.n_speakers: expected int, got bool"),
    ({"build_windows.n_seed_frames": 40}, "n_seed_frames"),
    ({"evaluate.ablations": ["speech", "voice"]}, "evaluate.ablations: unknown conditions ['voice']"),
    ({"evaluate.ablations": ["speech+speech"]}, "evaluate.ablations: a condition or an ablation is listed twice"),
    ({"evaluate.ablations": ["style", "style"]}, "evaluate.ablations: a condition or an ablation is listed twice"),
    ({"render_videos.clips": {"dev": [0]}}, "render_videos.clips: unknown splits ['dev']"),
    ({"render_videos.clips": {"val": [0, 0]}}, "render_videos.clips.val: clip rows must be distinct and >= 0"),
    ({"render_videos.clips": {"val": [-1]}}, "render_videos.clips.val: clip rows must be distinct and >= 0"),
    ({"render_videos.clips": {"val": []}}, "render_videos.clips: no clip chosen"),
    ({"render_videos.clips": {"val": ["0"]}}, "render_videos.clips.val[0]: expected int, got str"),
    ({"render_videos.size_px": 101}, "render_videos.size_px: an even number >= 64, got 101"),
    ({"render_videos.max_seconds": -1.0}, "render_videos.max_seconds: must be >= 0"),
    ({"render_videos.poster_frames": 0}, "render_videos.poster_frames: must be >= 1"),
    ({"diffusion.join.method": "blend"}, "diffusion.join.method: expected one of 'paste', 'crossfade', 'inertialize'"),
    ({"diffusion.join.frames": 0}, "diffusion.join.frames: at least 1, got 0"),
])
def test_bad_params_name_the_key(tmp_path, change, message):
    path = write_params(tmp_path / "params.yaml", change)
    with pytest.raises(ParamsError) as e:
        load_params(path)
    assert message in str(e.value)
    assert str(path) in str(e.value)


@pytest.mark.parametrize("dotted", ["build_windows.stride", "build_windows.n_frames", "diffusion",
                                    "build_windows.filters.min_words", "compute.threads", "extract_features"])
def test_every_key_is_required(tmp_path, dotted):
    """No silent defaults: a key missing from params.yaml is an error naming it (DVC would not track it)."""
    import yaml
    data = yaml.safe_load((ROOT / "params.yaml").read_text())
    node, *_ = [data]
    *parents, last = dotted.split(".")
    for k in parents:
        node = node[k]
    del node[last]
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ParamsError, match=rf"{dotted}: missing required key"):
        load_params(path)


def test_compute_params_are_checked(tmp_path):
    with pytest.raises(ParamsError, match=r"compute.device: expected cpu, cuda, cuda:N or mps, got 'gpu'"):
        load_params(write_params(tmp_path / "p.yaml", {"compute.device": "gpu"}))
    assert load_params(write_params(tmp_path / "q.yaml", {"compute.device": "cuda:1"})).compute.device == "cuda:1"


def test_stage_threads_override_threads_per_stage(tmp_path):
    c = load_params(write_params(tmp_path / "p.yaml", {"compute.threads": 3,
                                                        "compute.stage_threads": {"diffusion": 1}})).compute
    assert c.threads_for("diffusion") == 1 and c.threads_for("evaluate") == 3
    with pytest.raises(KeyError, match="make_demo_data"):
        c.threads_for("make_demo_data")          # a stage without torch/BLAS work has no thread param
    with pytest.raises(ParamsError, match=r"compute.stage_threads: unknown stages \['difusion'\]"):
        load_params(write_params(tmp_path / "q.yaml", {"compute.stage_threads": {"difusion": 1}}))
    with pytest.raises(ParamsError, match=r"compute.stage_threads.evaluate: must be >= 1, got 0"):
        load_params(write_params(tmp_path / "r.yaml", {"compute.stage_threads": {"evaluate": 0}}))
    with pytest.raises(ParamsError, match=r"compute.stage_threads.evaluate: expected int, got str"):
        load_params(write_params(tmp_path / "s.yaml", {"compute.stage_threads": {"evaluate": "1"}}))


def test_missing_required_key_and_int_accepted_for_float(tmp_path):
    with pytest.raises(ParamsError, match="seed: missing required key"):
        params_from_dict({"datasets": [], "data_sources": {}, "make_demo_data": {}, "convert_raw": {},
                          "build_windows": {}})
    p = load_params(write_params(tmp_path / "p.yaml", {"build_windows.filters.spine_max_deg": 25}))
    assert p.build_windows.filters.spine_max_deg == 25.0 and isinstance(p.build_windows.filters.spine_max_deg, float)


def test_params_are_frozen():
    p = load_params(ROOT / "params.yaml")
    with pytest.raises(AttributeError):
        p.build_windows.stride = 3  # type: ignore[misc]


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ParamsError, match="not found"):
        load_params(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: [1,\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(bad)


def test_a_gpu_asked_for_on_a_machine_without_one_is_refused_naming_the_param():
    import torch

    from gesturegen.compute import ComputeError, use_compute

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    threads = torch.get_num_threads()
    try:
        with pytest.raises(ComputeError, match=r"compute.device is 'cuda:1' but torch sees no CUDA device here; set "
                                               r"`compute: device: cpu`"):
            use_compute("cuda:1", 1)
    finally:
        use_compute("cpu", threads)


@pytest.mark.parametrize(("changes", "match"), [
    ({"compute.devices": 0}, "compute.devices and compute.num_nodes: must be >= 1"),
    ({"compute.device": "mps", "compute.devices": 2}, "DDP is not available on mps"),
    ({"compute.device": "cuda:1", "compute.devices": 2}, "'cuda:1' names one GPU but compute.devices is 2"),
    ({"compute.precision": "16-mixed"}, "16-mixed needs a GPU"),
    ({"compute.precision": "fp8"}, "compute.precision"),
])
def test_training_scale_out_params_are_checked(tmp_path, changes, match):
    with pytest.raises(ParamsError, match=match):
        load_params(write_params(tmp_path / "p.yaml", changes))


def test_the_device_column_names_processes_and_precision(tmp_path):
    p = load_params(ROOT / "params.yaml").compute
    assert (p.label(), p.world_size) == ("cpu", 1)
    q = load_params(write_params(tmp_path / "p.yaml", {"compute.device": "cuda", "compute.devices": 4,
                                                       "compute.num_nodes": 2, "compute.precision": "bf16-mixed"}))
    assert (q.compute.label(), q.compute.world_size) == ("cuda×8 bf16-mixed", 8)
    assert q.compute.scale_out() == {"devices": 4, "num_nodes": 2, "precision": "bf16-mixed"}
