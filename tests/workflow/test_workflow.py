"""The real Snakemake and the real DVC on the tiny preset, in a temporary git repository."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, copy_repo

BIN = Path(sys.executable).parent
DOWNSTREAM = {"extract_features", "train_fgd_encoder", "evaluate_baselines"}   # of build_windows


def _env() -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"   # `python` in the shell commands is this interpreter
    env.update(HF_HUB_OFFLINE="1", DVC_NO_ANALYTICS="1", PYTHONPATH="")
    return env


def sh(root: Path, *cmd: str, check: bool = True) -> str:
    p = subprocess.run([sys.executable, "-m", *cmd], cwd=root, env=_env(), capture_output=True, text=True)
    out = p.stdout + p.stderr
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({p.returncode}):\n{out[-4000:]}")
    return out


def planned_rules(root: Path) -> set[str]:
    out = sh(root, "snakemake", "-n", "--nocolor")
    return set(re.findall(r"^rule (\w+):", out, flags=re.M)) - {"all"}


def set_param(root: Path, dotted: str, value) -> None:
    path = root / "params.yaml"
    data = yaml.safe_load(path.read_text())
    node = data
    *parents, last = dotted.split(".")
    for k in parents:
        node = node[k]
    node[last] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.fixture(scope="module")
def tiny_repo(tmp_path_factory) -> Path:
    root = copy_repo(tmp_path_factory.mktemp("wf") / "repo")
    shutil.copy(ROOT / "tests" / "tiny" / "params.yaml", root / "params.yaml")
    (root / "dvc.lock").unlink(missing_ok=True)       # the committed lock describes the default-size run
    for args in (["init", "-q"], ["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "tiny"]):
        subprocess.run(["git", *args], cwd=root, check=True)
    return root


@pytest.mark.slow
def test_snakemake_then_dvc_agree_and_one_param_reruns_one_stage(tiny_repo):
    root = tiny_repo
    sh(root, "snakemake", "--cores", "2")
    for f in ("data/demo/train/data.mdb", "results/build_windows/demo/windows/train/dir_vec.npy",
              "results/build_windows/demo/metrics.json", "results/make_demo_data/clip.png",
              "results/extract_features/demo/features/val/text_frames.npy",
              "results/train_fgd_encoder/demo/encoder/model.safetensors",
              "results/evaluate_baselines/demo/metrics.json", "results/evaluate_baselines/demo/controls.png"):
        assert (root / f).is_file(), f
    sh(root, "dvc", "commit", "-f", "-q")
    assert "Data and pipelines are up to date" in sh(root, "dvc", "status")
    repro = sh(root, "dvc", "repro")
    assert "Running stage" not in repro, repro
    assert "Nothing to be done" in sh(root, "snakemake", "-n")

    # one build_windows knob changed: both tools rerun build_windows (and what depends on it), nothing upstream
    set_param(root, "build_windows.filters.max_words", 14)
    status = sh(root, "dvc", "status")
    assert "build_windows@demo" in status and "convert_raw" not in status and "make_demo_data" not in status
    assert planned_rules(root) == {"build_windows"} | DOWNSTREAM
    out = sh(root, "snakemake", "--cores", "2")
    ran = [r for r in re.findall(r"^(?:local)?rule (\w+):", out, flags=re.M) if r != "all"]
    assert ran[0] == "build_windows" and set(ran) == {"build_windows"} | DOWNSTREAM, ran
    sh(root, "dvc", "commit", "-f", "-q")
    assert "Data and pipelines are up to date" in sh(root, "dvc", "status")

    set_param(root, "build_windows.filters.max_words", 13)
    repro = sh(root, "dvc", "repro")
    ran = re.findall(r"Running stage '([^']+)'", repro)
    assert ran[0] == "build_windows@demo" and {r.split("@")[0] for r in ran} == {"build_windows"} | DOWNSTREAM, repro

    sh(root, "snakemake", "--cores", "1", "--touch")            # DVC ran it: bring Snakemake's records up to date
    assert "Nothing to be done" in sh(root, "snakemake", "-n")
    assert "Data and pipelines are up to date" in sh(root, "dvc", "status")

    # a knob of the last stage reruns only that stage
    set_param(root, "evaluate_baselines.diversity_permutations", 10)
    assert planned_rules(root) == {"evaluate_baselines"}
    assert re.findall(r"Running stage '([^']+)'", sh(root, "dvc", "repro")) == ["evaluate_baselines@demo"]


@pytest.mark.slow
def test_dvc_exp_run_set_param(tiny_repo):
    root = tiny_repo
    sh(root, "dvc", "repro", "-q")
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "lock"], cwd=root, check=True)
    out = sh(root, "dvc", "exp", "run", "-S", "build_windows.stride=12")
    ran = re.findall(r"Running stage '([^']+)'", out)
    assert ran[0] == "build_windows@demo" and not {"make_demo_data", "convert_raw@demo"} & set(ran), out
    diff = sh(root, "dvc", "params", "diff")
    assert "build_windows.stride" in diff and "12" in diff
    assert "build_windows" in sh(root, "dvc", "metrics", "diff")


def test_snakemake_lint_is_clean():
    out = sh(ROOT, "snakemake", "--lint", check=False)
    assert "Congratulations, your workflow is in a good condition!" in out, out


def test_snakemake_refuses_config_overrides():
    out = sh(ROOT, "snakemake", "-n", "--config", "seed=3", check=False)
    assert "overrides do not reach the stages" in out


def test_snakemake_validates_params_when_building_the_dag(tmp_path):
    root = copy_repo(tmp_path / "repo")
    set_param(root, "build_windows.stride", "ten")
    out = sh(root, "snakemake", "-n", check=False)
    assert "build_windows.stride: expected int, got str ('ten')" in out
