# Shared setup: validate params.yaml with the same strict loader the stages use, before anything runs.
# Every output is flagged update(): Snakemake would otherwise delete a job's outputs before running it, so a failed
# run would lose them. The stages replace their outputs only on success (gesturegen.io.replace_on_success), and on a
# failure Snakemake restores the copy it made of the previous outputs.
import sys

import yaml

sys.path.insert(0, str(Path(workflow.basedir).parent))  # the repository root, for gesturegen
sys.path.insert(0, str(Path(workflow.basedir)))         # workflow/, for snakemake_patches
from gesturegen.config import load_params  # noqa: E402
from snakemake_patches import replace_stale_backups  # noqa: E402

replace_stale_backups()  # a backup left by a preempted SLURM job or a kill -9 no longer fails the next attempt

PARAMS = load_params("params.yaml")  # raises ParamsError naming the key on any typo or wrong type
with open("params.yaml") as _fh:
    if config != yaml.safe_load(_fh):
        raise ValueError(
            "--config/--configfile overrides do not reach the stages (they read params.yaml); "
            "edit params.yaml or use `dvc exp run -S key=value` instead"
        )

DATASETS = list(PARAMS.datasets)
SPLITS = ["train", "val", "test"]
PARTS = ["body", "hand"]   # the VQ-VAE / diffusion parts (dvc.yaml: the matrix of train_vqvae, extract_codes)
# a split's LMDB in our raw format: the data and its digest sidecar (gesturegen.data.rawformat); rules depend on the
# files, not on the folders, so that Snakemake sees a file replaced inside a dataset folder
RAW_FILES = ["data.mdb", "digest.json"]
ENV = "../../envs/gesturegen.yaml"
# the torch/BLAS stages pin their own thread count to PARAMS.compute.threads_for(<stage>) (compute.threads, or the
# stage's compute.stage_threads entry; gesturegen.compute), whoever runs them; a rule's `threads:` is that number
# and only tells the scheduler (and SLURM's --cpus-per-task) how many cores the job takes


# SLURM resources per rule, in one place (a local run ignores them; a rule's threads become --cpus-per-task):
# memory in MB and runtime in minutes, sized with room for the default demo on 2 cores; raise them for a real
# dataset in your profile (`set-resources: {diffusion: {mem_mb: 32000, runtime: 720}}`). With compute.device
# cuda[:N] the torch rules also ask for one GPU through the executor plugin's `gpu` resource (sbatch --gpus=1;
# train_vqvae and diffusion: compute.devices GPUs, their DDP processes); choose the model with
# `set-resources: {diffusion: {gpu_model: a100}}` (sbatch --gpus=a100:1).
RESOURCES = {
    "make_demo_data": {"mem_mb": 3000, "runtime": 30},
    "convert_raw": {"mem_mb": 4000, "runtime": 60},
    "build_windows": {"mem_mb": 6000, "runtime": 60},
    "extract_features": {"mem_mb": 6000, "runtime": 120},
    "train_fgd_encoder": {"mem_mb": 6000, "runtime": 120},
    "train_sync_evaluator": {"mem_mb": 6000, "runtime": 120},
    "train_oracles": {"mem_mb": 6000, "runtime": 120},
    "evaluate_baselines": {"mem_mb": 6000, "runtime": 120},
    "train_vqvae": {"mem_mb": 6000, "runtime": 240},
    "extract_codes": {"mem_mb": 6000, "runtime": 60},
    "diffusion": {"mem_mb": 6000, "runtime": 240},
    "evaluate": {"mem_mb": 8000, "runtime": 240},
    "render_videos": {"mem_mb": 6000, "runtime": 60},
}
TORCH_RULES = {"extract_features", "train_fgd_encoder", "train_sync_evaluator", "train_oracles", "evaluate_baselines",
               "train_vqvae", "extract_codes", "diffusion", "evaluate", "render_videos"}
DDP_RULES = {"train_vqvae", "diffusion"}    # compute.devices processes (Lightning DDP) in one job
if PARAMS.compute.device.startswith("cuda"):
    for _name in TORCH_RULES:
        RESOURCES[_name]["gpu"] = PARAMS.compute.devices if _name in DDP_RULES else 1


wildcard_constraints:
    dataset="|".join(sorted(PARAMS.data_sources)),




# After a failed job, Snakemake puts the update()-flagged outputs back from its backup but still records the failed
# job's params, code and inputs as theirs (snakemake 9.27, jobs.py: persistence.finished() runs on error too), so
# the next run would take the restored, older outputs for current. Mark them stale: their recorded params become a
# value no params.yaml can have, so the next run reruns them ("Params have changed since last execution").
STALE = "<previous outputs restored after a failed run: rerun>"


def _mark_restored_outputs_stale(log):
    import re as _re

    text = ""
    for path in [log] if isinstance(log, (str, Path)) else list(log or []):
        try:
            text += Path(path).read_text()
        except OSError:
            pass
    restored = _re.findall(r"Restored previous version of (.+?) \(updating job failed\)", text)
    for path in dict.fromkeys(restored):
        try:
            record = workflow.persistence._read_record(path)  # noqa: SLF001 (no public way to mark a record)
            if record is not None:
                record.params = [STALE]
                workflow.persistence._write_record(path, record)  # noqa: SLF001
        except (AttributeError, OSError, TypeError) as e:
            print(f"gesturegen: could not mark {path} as stale after the failed run ({e}); force its rule to rerun "
                  f"with `snakemake -R <rule>`", file=sys.stderr)


onerror:
    _mark_restored_outputs_stale(log)
