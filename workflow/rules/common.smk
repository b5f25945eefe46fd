# Shared setup: validate params.yaml with the same strict loader the stages use, before anything runs.
# Every output is flagged update(): Snakemake would otherwise delete a job's outputs before running it, so a failed
# run would lose them. The stages replace their outputs only on success (gesturegen.io.replace_on_success), and on a
# failure Snakemake restores the copy it made of the previous outputs.
import sys

import yaml

sys.path.insert(0, str(Path(workflow.basedir).parent))  # the repository root, for gesturegen
from gesturegen.config import load_params  # noqa: E402

PARAMS = load_params("params.yaml")  # raises ParamsError naming the key on any typo or wrong type
with open("params.yaml") as _fh:
    if config != yaml.safe_load(_fh):
        raise ValueError(
            "--config/--configfile overrides do not reach the stages (they read params.yaml); "
            "edit params.yaml or use `dvc exp run -S key=value` instead"
        )

DATASETS = list(PARAMS.datasets)
SPLITS = ["train", "val", "test"]
# a split's LMDB in our raw format: the data and its digest sidecar (gesturegen.data.rawformat); rules depend on the
# files, not on the folders, so that Snakemake sees a file replaced inside a dataset folder
RAW_FILES = ["data.mdb", "digest.json"]
ENV = "../../envs/gesturegen.yaml"
# the torch/BLAS stages pin their own thread count to compute.threads (gesturegen.compute), whoever runs them;
# `threads:` only tells the scheduler (and SLURM's --cpus-per-task) how many cores they take
THREADS = PARAMS.compute.threads


wildcard_constraints:
    dataset="|".join(sorted(PARAMS.data_sources)),


