"""The real Snakemake and the real DVC on the tiny preset, in a temporary git repository."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import ROOT, copy_repo

BIN = Path(sys.executable).parent
DOWNSTREAM = {"extract_features", "train_fgd_encoder", "train_sync_evaluator", "train_oracles",
              "evaluate_baselines", "train_vqvae", "extract_codes", "diffusion", "evaluate",
              "render_videos"}   # of build_windows


def _env() -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"   # `python` in the shell commands is this interpreter
    env.update(HF_HUB_OFFLINE="1", DVC_NO_ANALYTICS="1", PYTHONPATH="")
    return env


def sh(root: Path, *cmd: str, check: bool = True) -> str:
    p = subprocess.run([sys.executable, "-m", *cmd], cwd=root, env=_env(), capture_output=True, text=True, check=False)
    out = p.stdout + p.stderr
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({p.returncode}):\n{out[-4000:]}")
    return out


def planned_rules(root: Path) -> set[str]:
    out = sh(root, "snakemake", "-n", "--nocolor")
    return set(re.findall(r"^rule (\w+):", out, flags=re.MULTILINE)) - {"all"}


def set_param(root: Path, dotted: str, value) -> None:
    path = root / "params.yaml"
    data = yaml.safe_load(path.read_text())
    node = data
    *parents, last = dotted.split(".")
    for k in parents:
        node = node[k]
    node[last] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def commit_all(root: Path, message: str) -> None:
    """git add -A and commit (an empty commit when an earlier test left nothing to commit)."""
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message, "--allow-empty"],
                   cwd=root, check=True)


def slurm_snakemake(work: Path, env: dict, seconds: int, *args: str) -> tuple[int, str]:
    """`snakemake --cores all --profile slurm ARGS` in `work`, stopped with SIGINT (which cancels its SLURM jobs)
    after `seconds`; (exit code, stdout + stderr)."""
    run = subprocess.run(["timeout", "-s", "INT", "-k", "30", str(seconds), sys.executable, "-m", "snakemake",
                          "--cores", "all", "--profile", "slurm", *args], cwd=work, env=env, capture_output=True,
                         text=True, check=False)
    return run.returncode, run.stdout + run.stderr


def hook_dir(tmp_path: Path, name: str, code: str) -> Path:
    """A folder holding `code` as sitecustomize.py: put it on PYTHONPATH and every Python process of a run loads it."""
    hook = tmp_path / name
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(code)
    return hook


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
    # the tiny preset's compute.stage_threads gives the diffusion jobs 1 thread, every other stage compute.threads (2)
    assert json.loads((root / "results/diffusion/demo-body/report.json").read_text())["compute"]["threads"] == 1
    assert json.loads((root / "results/evaluate/demo/report.json").read_text())["compute"]["threads"] == 2
    # the DAG ends with the videos: one per chosen clip, H.264 + AAC of the clip's length, and its poster
    from gesturegen.render import probe
    (clip,) = json.loads((root / "results/render_videos/demo/report.json").read_text())["clips"]
    media = probe(root / "results/render_videos/demo/videos" / clip["name"] / "video.mp4")
    assert (media.video_codec, media.audio_codec, media.n_video, media.n_audio) == ("h264", "aac", 1, 1)
    assert abs(media.duration_s - clip["frames"] / 15) < 0.15 and clip["duration_s"] == 3.0
    assert (root / "results/render_videos/demo/posters" / f"{clip['name']}.png").is_file()
    sh(root, "dvc", "commit", "-f", "-q", "--no-relink")   # relinking would rewrite inputs Snakemake watches
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
    ran = [r for r in re.findall(r"^(?:local)?rule (\w+):", out, flags=re.MULTILINE) if r != "all"]
    assert ran[0] == "build_windows" and set(ran) == {"build_windows"} | DOWNSTREAM, ran
    sh(root, "dvc", "commit", "-f", "-q", "--no-relink")   # relinking would rewrite inputs Snakemake watches
    assert "Data and pipelines are up to date" in sh(root, "dvc", "status")

    set_param(root, "build_windows.filters.max_words", 13)
    repro = sh(root, "dvc", "repro")
    ran = re.findall(r"Running stage '([^']+)'", repro)
    assert ran[0] == "build_windows@demo" and {r.split("@")[0] for r in ran} == {"build_windows"} | DOWNSTREAM, repro

    sh(root, "snakemake", "--cores", "1", "--touch")            # DVC ran it: bring Snakemake's records up to date
    assert "Nothing to be done" in sh(root, "snakemake", "-n")
    assert "Data and pipelines are up to date" in sh(root, "dvc", "status")

    # a knob of the last stage reruns only that stage
    set_param(root, "evaluate.batch_size", 128)
    assert planned_rules(root) == {"evaluate"}
    assert re.findall(r"Running stage '([^']+)'", sh(root, "dvc", "repro")) == ["evaluate@demo"]


@pytest.mark.slow
@pytest.mark.slurm
def test_the_dag_through_slurm_matches_the_local_run(tiny_repo, slurm_cluster, tmp_path):
    """`snakemake --cores all --profile slurm` on a real single-node SLURM: every job is an sbatch job, and the
    outputs equal the local run's (the same params and code: the first test's final state): the data stages' bytes,
    and every metrics.json within 1e-6 (the same machine and threads: in practice the same bytes)."""
    root = tiny_repo
    work = copy_repo(tmp_path / "repo", source=root)
    profiles = tmp_path / "xdg"
    env = {**_env(), **slurm_cluster, "XDG_CONFIG_HOME": str(profiles)}
    env["PATH"] = f"{Path(slurm_cluster['GG_SLURM_DIR']) / 'shim'}{os.pathsep}{_env()['PATH']}"   # srun shim, then BIN
    subprocess.run(["bash", "envs/slurm_profile.sh"], cwd=work, env=env, check=True, capture_output=True)
    rc, out = slurm_snakemake(work, env, 1500)
    assert rc == 0, out[-6000:]
    jobs = re.findall(r"has been submitted with SLURM jobid (\d+)", out)
    ran = [r for r in re.findall(r"^(?:local)?rule (\w+):", out, flags=re.MULTILINE) if r != "all"]
    assert len(jobs) == len(ran) >= 15, (jobs, ran)
    finished = dict(re.findall(r"^JobId=(\d+) .*?JobState=(\w+)", (Path(slurm_cluster["GG_SLURM_DIR"]) / "log" /
                                                                   "jobcomp.txt").read_text(), flags=re.MULTILINE))
    assert {j: finished.get(j) for j in jobs} == {j: "COMPLETED" for j in jobs}, finished
    from tests.datastages import output_hashes
    assert output_hashes(work) == output_hashes(root)
    metrics = sorted(f.relative_to(root) for f in (root / "results").rglob("metrics.json"))
    assert len(metrics) >= 15
    for f in metrics:
        flat_ours, flat_theirs = (pd.json_normalize(json.loads((r / f).read_text())).iloc[0].to_dict()
                                  for r in (work, root))
        assert flat_ours.keys() == flat_theirs.keys(), f
        for k, v in flat_theirs.items():
            if isinstance(v, float):
                assert flat_ours[k] == pytest.approx(v, rel=1e-6, abs=1e-9), (f, k)
            else:
                assert flat_ours[k] == v, (f, k)
    _preempt_a_training_job(work, env, tmp_path)
    # compute.device cuda: the torch rules ask SLURM for a GPU through the plugin's `gpu` resource; this node has
    # none, so sbatch refuses the job at submission, and the log shows the request
    set_param(work, "compute.device", "cuda")
    rc, out = slurm_snakemake(work, env, 300, "results/extract_features/demo/metrics.json")
    assert rc != 0 and "SLURM sbatch failed" in out, out[-4000:]
    call = re.search(r"sbatch --parsable .*", out).group(0)
    assert " --gpus=1" in call and "rule_extract_features" in call, call
    # a partition SLURM does not know: refused at submission with sbatch's reason, no hang, the outputs kept
    set_param(work, "compute.device", "cpu")
    kept = _snapshot(work, "results/extract_features/demo/metrics.json")
    rc, out = slurm_snakemake(work, env, 300, "--default-resources", "slurm_partition=nosuch", "--forcerun",
                              "extract_features", "--", "results/extract_features/demo/metrics.json")
    assert rc not in (0, 124) and "invalid partition specified: nosuch" in out.lower(), out[-4000:]
    assert _snapshot(work, *kept) == kept
    # a job that fails on the node (killed as it swaps its outputs in): reported with SLURM's state and the log
    # paths, the previous outputs kept byte for byte, and the next run plans it again
    hook = hook_dir(tmp_path, "kill_hook", KILL_HOOK)
    kept = _snapshot(work, "results/extract_features/demo/features", "results/extract_features/demo/metrics.json")
    rc, out = slurm_snakemake(work, {**env, "PYTHONPATH": str(hook), "GG_KILL_STAGE": "extract_features"}, 600,
                              "--forcerun", "extract_features", "--", "results/extract_features/demo/metrics.json")
    assert rc not in (0, 124) and "SLURM status is: 'FAILED'" in out, out[-4000:]
    assert "logs/extract_features/demo.log" in out and ".snakemake/slurm_logs/rule_extract_features" in out, out[-4000:]
    assert _snapshot(work, *kept) == kept
    assert "extract_features" in planned_rules(work)


KILL_HOOK = """
# Test-only fault injection, loaded through PYTHONPATH by every Python process of the run: the stage named in
# $GG_KILL_STAGE is SIGKILLed when it first moves a staged output into place, i.e. after it has written all its
# outputs into staging and before any of them replaces a previous one.
import os, signal, sys
if os.environ.get("GG_KILL_STAGE"):
    _replace = os.replace

    def _replace_or_die(src, dst, *args, **kwargs):
        if ".staging-" in os.fspath(src) and "stages." + os.environ["GG_KILL_STAGE"] in sys.orig_argv:
            os.kill(os.getpid(), signal.SIGKILL)
        return _replace(src, dst, *args, **kwargs)
    os.replace = _replace_or_die
"""


def _snapshot(root: Path, *paths: str) -> dict[str, bytes]:
    """The bytes of every file under `paths`, except Snakemake's `.snakemake_timestamp` of a directory output (its
    bookkeeping, which `--touch` creates; git- and DVC-ignored)."""
    out = {}
    for p in paths:
        path = root / p
        files = sorted(f for f in path.rglob("*") if f.is_file() and f.name != ".snakemake_timestamp") \
            if path.is_dir() else [path]
        out |= {str(f.relative_to(root)): f.read_bytes() for f in files}
    return out


BW_OUTPUTS = ("results/build_windows/demo/windows", "results/build_windows/demo/metrics.json", "dvc.lock")


SLOW_HOOK = """
# Test-only: each optimiser step of the stage named in $GG_SLOW_STAGE waits $GG_SLOW_STEP_S seconds first, so that
# a test can act while a tiny training runs (loaded through PYTHONPATH; the numbers do not change).
import os, sys, time
if os.environ.get("GG_SLOW_STAGE") and "stages." + os.environ["GG_SLOW_STAGE"] in sys.orig_argv:
    import pytorch_lightning as pl
    _step = pl.LightningModule.optimizer_step

    def _slow_step(self, *args, **kwargs):
        time.sleep(float(os.environ["GG_SLOW_STEP_S"]))
        return _step(self, *args, **kwargs)
    pl.LightningModule.optimizer_step = _slow_step
"""


def _preempt_a_training_job(work: Path, env: dict, tmp_path: Path) -> None:
    """train_vqvae@demo-body again through --profile slurm; once its first epoch's checkpoint is written, a job of
    the higher-tier partition `urgent` that needs every CPU preempts it (PreemptMode=REQUEUE, as on shared
    clusters). SLURM requeues it (the profile's --requeue), the stage resumes from its last epoch-end checkpoint,
    and the outputs are the bytes of the uninterrupted run."""
    import time

    out_dir = work / "results/train_vqvae/demo-body"
    before = _snapshot(work, "results/train_vqvae/demo-body/model", "results/train_vqvae/demo-body/metrics.json")
    hook = hook_dir(tmp_path, "slow_hook", SLOW_HOOK)
    proc = subprocess.Popen(["timeout", "-s", "INT", "-k", "30", "900", sys.executable, "-m", "snakemake", "--cores",
                             "all", "--profile", "slurm", "results/train_vqvae/demo-body/metrics.json",
                             "--forcerun", "train_vqvae"], cwd=work, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env={**env, "PYTHONPATH": str(hook),
                                                           "GG_SLOW_STAGE": "train_vqvae", "GG_SLOW_STEP_S": "3"})
    deadline = time.monotonic() + 600
    while not (out_dir / "resume" / "last.ckpt").is_file():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[0][-4000:]
        time.sleep(0.2)
    cpus = subprocess.run(["sinfo", "-h", "-o", "%c"], env=env, capture_output=True, text=True,
                          check=True).stdout.split()[0]
    subprocess.run(["sbatch", "-p", "urgent", "-c", cpus, "--mem", "100", "-o", "/dev/null", "--wrap", "sleep 1"],
                   env=env, check=True, capture_output=True)
    out = proc.communicate(timeout=900)[0]
    assert proc.returncode == 0, out[-6000:]
    job, = re.findall(r"has been submitted with SLURM jobid (\d+)", out)
    states = re.findall(rf"^JobId={job} .*?JobState=(\w+)", (Path(env["GG_SLURM_DIR"]) / "log" /
                                                            "jobcomp.txt").read_text(), flags=re.MULTILINE)
    assert states == ["PREEMPTED", "COMPLETED"], states
    log = (work / "logs/train_vqvae/demo-body.log").read_text()         # the requeued run's
    assert re.search(r"train_vqvae demo-body: resuming from results/train_vqvae/demo-body/resume/last.ckpt "
                     r"\(epoch \d done\)", log), log[-3000:]
    assert json.loads((out_dir / "report.json").read_text())["resumed"] is True
    assert _snapshot(work, *before) == before


@pytest.mark.slow
def test_a_failed_run_destroys_nothing(tiny_repo, tmp_path):
    """A params typo and a stage killed mid-write, under `dvc repro` and under Snakemake: the previous outputs
    (the git-tracked metrics.json included) and dvc.lock stay byte for byte as they were."""
    root = tiny_repo
    sh(root, "dvc", "repro", "-q")
    before = _snapshot(root, *BW_OUTPUTS)
    params = (root / "params.yaml").read_text()
    try:
        # a typo: DVC sees changed params and runs the stage, which refuses them; Snakemake refuses at once
        (root / "params.yaml").write_text(params.replace("  stride: 10\n", "  strid: 10\n"))
        out = sh(root, "dvc", "repro", "build_windows@demo", check=False)
        assert "build_windows.strid: unknown key" in out, out[-2000:]
        assert _snapshot(root, *BW_OUTPUTS) == before
        out = sh(root, "snakemake", "--cores", "1", "results/build_windows/demo/metrics.json", check=False)
        assert "build_windows.strid: unknown key" in out
        assert _snapshot(root, *BW_OUTPUTS) == before

        # a real change of a knob, and the stage killed (SIGKILL) after writing its outputs, before the swap
        (root / "params.yaml").write_text(params.replace("  stride: 10\n", "  stride: 11\n"))
        hook = hook_dir(tmp_path, "hook", KILL_HOOK)
        env = {**_env(), "PYTHONPATH": str(hook), "GG_KILL_STAGE": "build_windows"}
        for cmd in (["dvc", "repro", "build_windows@demo"],
                    ["snakemake", "--cores", "1", "results/build_windows/demo/metrics.json"]):
            p = subprocess.run([sys.executable, "-m", *cmd], cwd=root, env=env, capture_output=True, text=True,
                               check=False)
            assert p.returncode != 0, p.stdout[-2000:] + p.stderr[-2000:]
            assert _snapshot(root, *BW_OUTPUTS) == before, cmd
        assert list((root / "results/build_windows/demo").glob(".windows.staging-*")), "the kill left no staging"
        # the restored previous outputs are not taken for current: both tools still plan the stage (Snakemake would
        # record the failed job's params for them without the onerror handler in workflow/rules/common.smk)
        assert "build_windows" in planned_rules(root)
        assert "build_windows@demo" in sh(root, "dvc", "status")
        # the next run cleans up after the killed one and replaces the outputs
        sh(root, "snakemake", "--cores", "1", "results/build_windows/demo/metrics.json")
        assert not list((root / "results/build_windows/demo").glob(".*staging-*"))
        assert _snapshot(root, *BW_OUTPUTS[:2]) != {k: v for k, v in before.items() if k != "dvc.lock"}
    finally:
        (root / "params.yaml").write_text(params)
    sh(root, "dvc", "repro", "-q")
    sh(root, "snakemake", "--cores", "1", "--touch")
    assert _snapshot(root, *BW_OUTPUTS) == before          # back to the same bytes: deterministic


@pytest.mark.slow
def test_both_runners_compute_the_same_bytes(tiny_repo):
    """Snakemake with one core (it then exports one BLAS/OpenMP thread to the job) and `dvc repro` (all cores) train
    the same extractor and the same VQ-VAE, bit for bit: the stages pin their threads to compute.threads and record
    them."""
    root = tiny_repo
    sh(root, "dvc", "repro", "-q")
    enc = root / "results/train_fgd_encoder/demo"
    by_dvc = _snapshot(root, "results/train_fgd_encoder/demo/encoder", "results/train_fgd_encoder/demo/metrics.json")
    sh(root, "snakemake", "--cores", "1", "--forcerun", "train_fgd_encoder",
       "results/train_fgd_encoder/demo/metrics.json")
    assert _snapshot(root, "results/train_fgd_encoder/demo/encoder",
                     "results/train_fgd_encoder/demo/metrics.json") == by_dvc
    report = yaml.safe_load((enc / "report.json").read_text())
    assert report["compute"]["threads"] == 2 and report["compute"]["device"] == "cpu"
    # the VQ-VAE too: weights, codebook, curves, metrics and report
    vq = ("results/train_vqvae/demo-body/model", "results/train_vqvae/demo-body/dvclive/plots/metrics",
          "results/train_vqvae/demo-body/metrics.json", "results/train_vqvae/demo-body/report.json",
          "results/train_vqvae/demo-body/summary.csv")
    by_dvc = _snapshot(root, *vq)
    sh(root, "snakemake", "--cores", "1", "--forcerun", "train_vqvae", "results/train_vqvae/demo-body/metrics.json")
    assert _snapshot(root, *vq) == by_dvc
    sh(root, "dvc", "commit", "-f", "-q", "--no-relink")


@pytest.mark.slow
def test_metrics_and_experiments_are_readable(tiny_repo):
    """`dvc metrics show` prints a handful of headline numbers per stage in lines a terminal can show, and
    `dvc exp show` runs in a terminal and lists every headline metric and param by name (--csv: unfolded)."""
    root = tiny_repo
    sh(root, "dvc", "repro", "-q")
    lines = sh(root, "dvc", "metrics", "show").splitlines()
    # 300 characters until the VQ-VAE: its metrics.json must carry the reconstruction's v2 metrics, retrieval,
    # perplexity, dead codes, size and speed (issue 8); they share columns with other stages where the meaning is
    # the same (recon_l1, perplexity, dead, device). 460 until diffusion; the models' own headline (issue 9:
    # `evaluate`'s FGD and beat F1 per split as `<split>.<metric>.gen`, `diffusion`'s val.fgd.part and val.loss) makes 510 on the
    # default demo; every other metric, the NFE sweep and the ablations are in report.json and summary.csv
    assert lines and max(map(len, lines)) <= 520, max(map(len, lines))
    header = lines[0].split()
    for key in ("speech_minutes", "videos", "windows.train", "windows.val", "recon_l1", "val.fgd.gt",
                "val.fgd.rand", "test.bc.gt"):
        assert key in header, (key, header)
    assert len(header) <= 36, header                      # a handful per stage, not every cell (35 on the demo)
    env = {**_env(), "COLUMNS": "1024"}
    p = subprocess.run([sys.executable, "-m", "dvc", "exp", "show", "--no-pager"], cwd=root, env=env,
                       capture_output=True, text=True, check=False)
    assert p.returncode == 0, p.stderr[-2000:]
    # since the VQ-VAE stages the terminal table is wider than 1024 columns (DVC folds the rest into `…`); the
    # whole table, every headline metric and param by name, is there with --csv
    p = subprocess.run([sys.executable, "-m", "dvc", "exp", "show", "--no-pager", "--csv"], cwd=root, env=env,
                       capture_output=True, text=True, check=False)
    table = p.stdout
    assert p.returncode == 0, p.stderr[-2000:]
    columns = table.splitlines()[0].split(",")
    for key in header[1:]:     # a name several files use is prefixed with the file: <path>:<key>
        assert any(c == key or c.endswith(f":{key}") for c in columns), f"{key} missing from `dvc exp show --csv`"
    for param in ("seed", "datasets", "compute.device", "train_vqvae.contrastive.mode"):
        assert param in columns, param


@pytest.mark.slow
def test_dvc_plots_render_offline(tiny_repo):
    """`dvc plots show` with the template the set-up writes: vega inline, no <script src>, every plot present."""
    root = tiny_repo
    sh(root, "dvc", "repro", "-q")
    subprocess.run([str(BIN / "gesturegen"), "plots-template", ".dvc/plots_offline.html"], cwd=root, env=_env(),
                   check=True, capture_output=True)
    out = sh(root, "dvc", "plots", "show")
    html = (root / "dvc_plots" / "index.html").read_text()
    assert "index.html" in out and not re.search(r"<script[^>]*\bsrc\s*=", html) and "cdn.jsdelivr" not in html
    assert "window.vegaEmbed=" in html and "vegaEmbed('#" in html            # the loss curve, drawn by vega
    for png in ("clip.png", "controls.png", "usage.png", "tsne.png", "top_tuples.png", "nfe.png", "rows.png"):
        assert png in html, png
    assert "val_part_l1" in html and "perplexity" in html          # train_vqvae's DVCLive curves


@pytest.mark.slow
def test_snakemake_sees_a_file_replaced_inside_a_dataset_folder(tiny_repo, tmp_path):
    """A dataset folder the user provides (here `mine`, in our raw format): replacing one split's data.mdb makes
    both tools rerun convert_raw, not only DVC."""
    from tests.conftest import write_synthetic_dataset
    root = tiny_repo
    write_synthetic_dataset(root / "data/mine", seed=1)
    params = (root / "params.yaml").read_text()
    try:
        data = yaml.safe_load(params)
        data["data_sources"]["mine"] = {"skeleton": "ted_expressive", "words_unit": "seconds"}
        data["datasets"] = ["demo", "mine"]
        (root / "params.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
        target = "results/convert_raw/mine/metrics.json"
        sh(root, "snakemake", "--cores", "1", target)
        assert "Nothing to be done" in sh(root, "snakemake", "-n", target)
        write_synthetic_dataset(tmp_path / "other", seed=2)
        shutil.copy(tmp_path / "other/val/data.mdb", root / "data/mine/val/data.mdb")
        for f in (tmp_path / "other/val").iterdir():        # the split as a whole, replaced by another copy
            shutil.copy(f, root / "data/mine/val" / f.name)
        planned = re.findall(r"^rule (\w+):", sh(root, "snakemake", "-n", target), flags=re.MULTILINE)
        assert "convert_raw" in planned
        assert "convert_raw@mine" in sh(root, "dvc", "status", "convert_raw@mine")
    finally:
        (root / "params.yaml").write_text(params)
        shutil.rmtree(root / "data/mine", ignore_errors=True)
        shutil.rmtree(root / "results/convert_raw/mine", ignore_errors=True)


@pytest.mark.slow
def test_dvc_exp_run_set_param(tiny_repo):
    root = tiny_repo
    sh(root, "dvc", "repro", "-q")
    commit_all(root, "lock")
    # a knob of the last stage (one more video): only that stage runs (a build_windows knob reruns everything
    # downstream, checked with both tools in the first test of this file)
    out = sh(root, "dvc", "exp", "run", "-S", "render_videos.clips.val=[0,1]")
    assert re.findall(r"Running stage '([^']+)'", out) == ["render_videos@demo"], out
    diff = sh(root, "dvc", "params", "diff")
    assert "render_videos.clips.val" in diff and "[0, 1]" in diff, diff
    assert re.search(r"results/render_videos/demo/metrics.json\s+videos\s+1\s+2", sh(root, "dvc", "metrics", "diff"))
    # the knob changed back: the earlier results come back from DVC's cache, nothing is recomputed (what the run cache
    # would do, which is off for persistent outputs): git restores params.yaml, dvc.lock and the git-tracked
    # metrics, `dvc checkout` the cached outputs
    before = _snapshot(root, "results/render_videos/demo/videos")
    subprocess.run(["git", "checkout", "HEAD", "--", "."], cwd=root, check=True)
    sh(root, "dvc", "checkout", "-q")
    assert "up to date" in sh(root, "dvc", "status")
    assert not re.findall(r"Running stage", sh(root, "dvc", "repro"))
    assert _snapshot(root, "results/render_videos/demo/videos") != before
    assert len(list((root / "results/render_videos/demo/videos").iterdir())) == 1      # one clip again


@pytest.mark.slow
def test_a_sweep_queued_with_dvc_exp_run_queue_runs_with_dvc_queue_start(tiny_repo):
    """`dvc exp run --queue -S ...` twice, then `dvc queue start`: each experiment runs in its own temporary
    workspace, reruns only the stage its knob feeds, and lands in `dvc exp show`; the workspace is left as it was."""
    import time

    root = tiny_repo
    sh(root, "dvc", "repro", "-q")
    commit_all(root, "lock")
    params_before = (root / "params.yaml").read_text()
    sweep = {"one": "render_videos.clips.val=[1]", "two": "render_videos.clips.val=[0,1]"}   # committed: [0]
    for name, setting in sweep.items():
        assert "Queued experiment" in sh(root, "dvc", "exp", "run", "--queue", "-S", setting, "-n", name)
    sh(root, "dvc", "queue", "start", "-j", "1")
    deadline = time.monotonic() + 900
    while re.search(r"\b(Queued|Running)\b", status := sh(root, "dvc", "queue", "status")):
        assert time.monotonic() < deadline, status
        time.sleep(2)
    assert all(re.search(rf"\b{name}\s+.*Success", status) for name in sweep), status
    for name in sweep:
        log = sh(root, "dvc", "queue", "logs", name)
        assert re.findall(r"Running stage '([^']+)'", log) == ["render_videos@demo"], log[-3000:]
    shown = {}
    table = subprocess.run([sys.executable, "-m", "dvc", "exp", "show", "--json"], cwd=root, env=_env(),
                           capture_output=True, text=True, check=True).stdout
    for base in json.loads(table):
        for exp in base.get("experiments") or []:
            for rev in exp["revs"]:
                shown[rev["name"]] = rev["data"]["metrics"]["results/render_videos/demo/metrics.json"]["data"]
    assert {n: shown[n]["videos"] for n in sweep} == {"one": 1, "two": 2}, shown
    assert (root / "params.yaml").read_text() == params_before
    sh(root, "dvc", "queue", "stop")


@pytest.mark.slow
def test_dvc_exp_run_diffusion_steps_reruns_only_the_diffusion_stages(tiny_repo):
    """The diffusion issue's command: `dvc exp run -S diffusion.steps=1000` trains and evaluates with 1,000 steps,
    reruns the diffusion stages and what follows them only, and `dvc metrics diff` shows the change."""
    root = tiny_repo
    sh(root, "dvc", "repro", "-q")
    commit_all(root, "lock")
    out = sh(root, "dvc", "exp", "run", "-S", "diffusion.steps=1000")
    ran = sorted(re.findall(r"Running stage '([^']+)'", out))
    assert ran == ["diffusion@demo-body", "diffusion@demo-hand", "evaluate@demo", "render_videos@demo"], out
    assert json.loads((root / "results/diffusion/demo-body/model/config.json").read_text())["config"]["steps"] == 1000
    diff = sh(root, "dvc", "metrics", "diff")
    assert re.search(r"results/diffusion/demo-body/metrics.json\s+val.loss", diff), diff
    # the tiny model's samples may snap to the same codes, so evaluate's headline need not move; its full table must
    changed = subprocess.run(["git", "diff", "--name-only", "HEAD"], cwd=root, capture_output=True, text=True,
                             check=True).stdout.split()
    assert "results/evaluate/demo/summary.csv" in changed, changed


@pytest.mark.slow
def test_push_in_one_clone_pull_in_another_recomputes_nothing(tiny_repo, tmp_path):
    """The default remote (a folder beside the repository) carries every artifact: `dvc push` after a run, then in a
    fresh clone `dvc pull` gives a clean `dvc status`, a `dvc repro` that runs nothing, and the same bytes; Snakemake
    adopts the pulled outputs with `--touch`. A clone whose remote is empty says what is missing."""
    root = tiny_repo
    sh(root, "dvc", "repro", "-q")
    commit_all(root, "run")
    remote = root.parent / "gesturegen-dvc-remote"                     # .dvc/config's default: beside the repo
    shutil.rmtree(remote, ignore_errors=True)
    assert re.search(r"\d+ files? pushed", sh(root, "dvc", "push")) and remote.is_dir()
    clone = root.parent / "clone"                                       # beside it too: the same default remote
    subprocess.run(["git", "clone", "-q", str(root), str(clone)], check=True)
    pulled = sh(clone, "dvc", "pull")
    assert "failed" not in pulled.lower(), pulled
    assert "Data and pipelines are up to date" in sh(clone, "dvc", "status")
    repro = sh(clone, "dvc", "repro")
    assert "Running stage" not in repro and "up to date" in repro, repro
    tracked = ("results/build_windows/demo/windows", "results/train_vqvae/demo-body/model",
               "results/diffusion/demo-hand/model", "results/evaluate/demo/report.json",
               "results/render_videos/demo/videos")
    assert _snapshot(clone, *tracked) == _snapshot(root, *tracked)
    sh(clone, "snakemake", "--cores", "1", "--touch")
    assert "Nothing to be done" in sh(clone, "snakemake", "-n")
    # an empty remote: the pull fails, naming the missing files
    empty = root.parent / "empty"
    subprocess.run(["git", "clone", "-q", str(root), str(empty)], check=True)
    sh(empty, "dvc", "remote", "modify", "--local", "local", "url", str(tmp_path / "nothing-here"))
    out = sh(empty, "dvc", "pull", check=False)
    assert "failed to pull data from the cloud" in out and "Missing cache files" in out, out


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


def test_profile_slurm_is_found_after_the_setup(tmp_path):
    """`snakemake --cores all --profile slurm`, the command users type, in a fresh copy: without the set-up's link
    Snakemake finds no profile; after `envs/slurm_profile.sh` (run by envs/setup.sh) it uses ours."""
    root = copy_repo(tmp_path / "repo")
    env = {**_env(), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    cmd = [sys.executable, "-m", "snakemake", "--cores", "all", "--profile", "slurm", "-n"]
    before = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, check=False)
    assert before.returncode != 0 and "no profile.yaml (or config.yaml) found" in before.stdout + before.stderr
    subprocess.run(["bash", "envs/slurm_profile.sh"], cwd=root, env=env, check=True, capture_output=True)
    after = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, check=False)
    out = after.stdout + after.stderr
    assert after.returncode == 0, out[-3000:]
    assert "Using profiles slurm and workflow specific profile" in out and "make_demo_data" in out
    # a cluster's own profile of that name is left alone
    subprocess.run(["bash", "envs/slurm_profile.sh"], cwd=copy_repo(tmp_path / "other"), env=env, check=True)
    assert (tmp_path / "config/snakemake/slurm").resolve() == (root / "workflow/profiles/slurm").resolve()
