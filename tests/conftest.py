"""Shared fixtures: a small synthetic raw dataset in our encoding, and params files in tmp_path."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")

ROOT = Path(__file__).resolve().parents[1]


def synthetic_clip(rng: np.random.Generator, start: float, duration: float, fps: float = 25.0,
                   n_joints: int = 43, sr: int = 16000, words_per_s: float = 2.5) -> dict:
    """A clip that passes the default filters: the mean pose, shifted, with both arms swinging."""
    from gesturegen.data.skeleton import AQGT, TED_EXPRESSIVE
    sk = TED_EXPRESSIVE if n_joints == 43 else AQGT
    mean_pose, _ = sk.published_means()
    t = np.arange(round(duration * fps)) / fps
    joints = np.repeat(mean_pose[None].astype(np.float64), t.size, 0)
    joints[:, :, 0] += 0.03                                           # away from the mean pose
    arm = [j for j in range(n_joints) if j not in (0, 1, 2, 3) and j > 3]
    phase = rng.uniform(0, 2 * np.pi)
    joints[:, arm, 1] += 0.08 * np.sin(2 * np.pi * 0.8 * t + phase)[:, None]
    joints[:, arm, 0] += 0.05 * np.cos(2 * np.pi * 0.5 * t + phase)[:, None]
    joints += 0.002 * rng.standard_normal(joints.shape)               # sensor noise: every angle changes a little
    n_words = int(duration * words_per_s)
    edges = np.sort(rng.uniform(0, duration, 2 * n_words))
    words = [[f"w{i}", float(start + edges[2 * i]), float(start + edges[2 * i + 1])] for i in range(n_words)]
    audio = (0.1 * rng.standard_normal(round(duration * sr))).astype(np.float16)
    return {"skeletons_3d": joints.astype(np.float32), "audio_raw": audio, "words": words,
            "start_time": float(start), "end_time": float(start + duration),
            "start_frame_no": round(start * fps), "end_frame_no": round((start + duration) * fps)}


def write_synthetic_dataset(root: Path, seed: int = 0, videos: dict | None = None) -> Path:
    """root/{train,val,test} LMDBs in our encoding with a few synthetic videos each."""
    from gesturegen.data.rawformat import write_store
    rng = np.random.default_rng(seed)
    videos = videos or {"train": 3, "val": 1, "test": 1}
    for split, n in videos.items():
        vids = []
        for v in range(n):
            clips = [synthetic_clip(rng, 1.0 + 10 * c, 6.0) for c in range(2)]
            vids.append({"vid": f"{split}_video{v}", "framerate": 25.0, "clips": clips})
        write_store(root / split, vids, {"dataset": "synthetic"})
    return root


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny matrices: on a busy CI machine extra torch threads only spin (10x slower); restore afterwards."""
    import torch
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def synthetic_raw(tmp_path: Path) -> Path:
    return write_synthetic_dataset(tmp_path / "raw")


def write_params(path: Path, changes: dict | None = None, base: Path = ROOT / "params.yaml") -> Path:
    """Copy params.yaml to `path`, applying {'a.b.c': value} changes."""
    data = yaml.safe_load(base.read_text())
    for dotted, value in (changes or {}).items():
        node = data
        *parents, last = dotted.split(".")
        for k in parents:
            node = node.setdefault(k, {})
        node[last] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def params_file(tmp_path: Path):
    def make(changes: dict | None = None, name: str = "params.yaml") -> Path:
        return write_params(tmp_path / name, changes)
    return make


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


def copy_repo(dest: Path, source: Path = ROOT) -> Path:
    """The tracked + untracked-not-ignored files of a git checkout (this one by default), copied to dest (no .git,
    no results)."""
    import subprocess
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=source, check=True,
                           capture_output=True, text=True).stdout.split("\n")
    for f in filter(None, files):
        src = source / f
        if src.is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / f)
    return dest


@pytest.fixture(scope="session")
def data_stage_hashes(tmp_path_factory):
    """sha256 of what the tiny preset's data stages store, run in a fresh process per emulated CPU configuration
    (tests.datastages.CONFIGS); each configuration runs once per session, when a test first asks for it."""
    from tests.datastages import CONFIGS, output_hashes, run_stages
    done: dict[str, dict[str, str]] = {}

    def hashes(config: str) -> dict[str, str]:
        if config not in done:
            work = tmp_path_factory.mktemp(f"datastages-{config}")
            run_stages(work, CONFIGS[config])
            done[config] = output_hashes(work)
        return done[config]
    return hashes


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    """A real single-node SLURM (tests/slurm/start.sh) for the session: the environment that reaches it (SLURM_CONF,
    the srun shim first on PATH; GG_SLURM_DIR: its folder, with log/jobcomp.txt), stopped afterwards. Skipped, saying why, where it cannot start."""
    import os
    import subprocess

    if shutil.which("slurmd") is None or shutil.which("munged") is None:
        pytest.skip("no slurmd/munged: install Debian's slurm-wlm and munge (bash envs/slurm_packages.sh; .ci/run "
                    "does)")
    if os.geteuid() != 0:
        pytest.skip("slurmd needs root")
    import socket

    where = tmp_path_factory.mktemp("slurm")
    ports = []
    for _ in range(2):                        # free ports: another SLURM on the machine keeps its own
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    started = subprocess.run(["bash", str(ROOT / "tests" / "slurm" / "start.sh"), str(where)], capture_output=True,
                             text=True, check=False, env={**os.environ, "SLURMCTLD_PORT": str(ports[0]),
                                                          "SLURMD_PORT": str(ports[1])})
    if started.returncode != 0:
        subprocess.run(["bash", str(ROOT / "tests" / "slurm" / "stop.sh"), str(where)], check=False)
        raise RuntimeError(f"tests/slurm/start.sh failed:\n{started.stdout}{started.stderr}")
    env = {"SLURM_CONF": str(where / "etc" / "slurm.conf"), "GG_SLURM_DIR": str(where),
           "PATH": f"{where / 'shim'}{os.pathsep}{os.environ.get('PATH', '')}"}
    yield env
    subprocess.run(["bash", str(ROOT / "tests" / "slurm" / "stop.sh"), str(where)], check=False)
