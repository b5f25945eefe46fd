"""workflow/ (Snakemake) and dvc.yaml must describe the same pipeline: stage names, commands, inputs, outputs, params.

Snakemake side: `snakemake -n -F -p` (every job of the current Snakefile, commands expanded) plus the rules' params
from the Snakemake API. DVC side: the resolved stage index (foreach expanded, ${} interpolated).
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TEE = " 2>&1 | tee "


def _norm(cmd: str) -> str:
    cmd = " ".join(cmd.split())
    return cmd.split(TEE)[0] if TEE in cmd else cmd


def snakemake_jobs(root: Path = ROOT) -> dict[tuple[str, str], dict]:
    """(rule, dataset or <dataset>-<part> or '') -> {cmd, inputs, outputs}, from a forced dry run."""
    out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "-F", "-p", "--nocolor"], cwd=root,
                         check=True, capture_output=True, text=True).stdout
    jobs, cur, field = {}, None, None
    for line in out.splitlines():
        s = line.strip()
        if re.match(r"^(local)?rule \w+:$", line):
            cur, field = {"rule": line.split()[-1].rstrip(":"), "input": set(), "output": set(), "kept": set(),
                          "wildcards": {}}, None
        elif cur is None:
            continue
        elif s.startswith(("input:", "output:", "log:", "wildcards:", "jobid:", "reason:", "resources:")):
            field, rest = s.split(":", 1)
            if field in ("input", "output"):
                items = [x.strip() for x in rest.split(",") if x.strip()]
                cur[field] |= {x.removesuffix(" (update)") for x in items}
                if field == "output":
                    cur["kept"] = {x.removesuffix(" (update)") for x in items if x.endswith(" (update)")}
            elif field == "wildcards":
                cur["wildcards"] = dict(kv.strip().split("=", 1) for kv in rest.split(",") if "=" in kv)
        elif s.startswith("Shell command:"):
            if cur["rule"] != "all":
                cur["cmd"] = _norm(s.split(":", 1)[1])
                wc = cur["wildcards"]       # DVC names matrix items <dataset>-<part>
                jobs[(cur["rule"], "-".join(wc[k] for k in ("dataset", "part") if k in wc))] = cur
            cur = None
    return jobs


def snakemake_params(root: Path = ROOT) -> dict[str, dict]:
    """rule -> {param name: value or callable(wildcards)}."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings, StorageSettings
    with SnakemakeApi(OutputSettings(quiet=True)) as api:
        wf = api.workflow(resource_settings=ResourceSettings(), config_settings=ConfigSettings(),
                          storage_settings=StorageSettings(), snakefile=root / "workflow" / "Snakefile",
                          workdir=root)
        return {r.name: dict(r.params.items()) for r in wf._workflow.rules}


def dvc_stages(root: Path = ROOT) -> dict[tuple[str, str], dict]:
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo
    with Repo(str(root)) as repo:
        stages = {}
        for st in repo.index.stages:
            name, _, item = st.name.partition("@")
            params = [k for d in st.deps if isinstance(d, ParamsDependency) for k in d.params]
            stages[(name, item)] = {
                "cmd": _norm(st.cmd), "output": {o.def_path for o in st.outs},
                "kept": {o.def_path for o in st.outs if o.persist},
                "input": {d.def_path for d in st.deps if not isinstance(d, ParamsDependency)}, "params": params}
        return stages


def _lookup(cfg: dict, dotted: str):
    for k in dotted.split("."):
        cfg = cfg[k]
    return cfg


def compare(root: Path = ROOT) -> list[str]:
    """Every difference between the two DAG files, as readable lines (empty when they agree)."""
    smk, dvc = snakemake_jobs(root), dvc_stages(root)
    params = snakemake_params(root)
    config = yaml.safe_load((root / "params.yaml").read_text())
    problems = [f"only in Snakemake: {k}" for k in sorted(smk.keys() - dvc.keys())]
    problems += [f"only in dvc.yaml: {k}" for k in sorted(dvc.keys() - smk.keys())]
    for key in sorted(smk.keys() & dvc.keys()):
        s, d = smk[key], dvc[key]
        for what in ("cmd", "input", "output"):
            if s[what] != d[what]:
                problems.append(f"{key} {what} differs:\n  snakemake: {s[what]}\n  dvc.yaml:  {d[what]}")
        # a failed run must not delete the previous outputs: update() in Snakemake, persist: true in DVC
        for tool, job in (("snakemake (update())", s), ("dvc.yaml (persist: true)", d)):
            if job["kept"] != job["output"]:
                problems.append(f"{key}: outputs not kept on failure by {tool}: {sorted(job['output'] - job['kept'])}")
        rule_params = params[key[0]]
        dataset, _, part = key[1].partition("-")
        wildcards = SimpleNamespace(dataset=dataset, part=part)
        dvc_tops = {p.split(".")[0] for p in d["params"]}
        if dvc_tops != set(rule_params):
            problems.append(f"{key} params differ: snakemake {sorted(rule_params)}, dvc.yaml {d['params']}")
            continue
        for p in d["params"]:
            v = rule_params[p.split(".")[0]]
            v = v(wildcards) if callable(v) else v
            if v != _lookup(config, p):
                problems.append(f"{key} param {p}: snakemake tracks {v!r}, dvc.yaml tracks {_lookup(config, p)!r}")
    return problems


def test_snakemake_and_dvc_describe_the_same_dag():
    problems = compare()
    assert not problems, "workflow/ and dvc.yaml disagree:\n" + "\n".join(problems)
    assert {name for name, _ in dvc_stages()} >= {"make_demo_data", "convert_raw", "build_windows"}


@pytest.mark.parametrize("edit", ["none", "dvc_cmd", "smk_output", "dvc_param", "smk_not_kept", "dvc_not_kept"])
def test_sync_check_fails_when_one_file_changes_alone(tmp_path, edit):
    from tests.conftest import copy_repo
    root = copy_repo(tmp_path / "repo")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    dvc_yaml, data_smk = root / "dvc.yaml", root / "workflow" / "rules" / "data.smk"
    before = (dvc_yaml.read_text(), data_smk.read_text())
    if edit == "none":
        pass
    elif edit == "smk_not_kept":
        data_smk.write_text(data_smk.read_text().replace('metrics=update("results/convert_raw/{dataset}/metrics.json")',
                                                         'metrics="results/convert_raw/{dataset}/metrics.json"'))
    elif edit == "dvc_not_kept":
        dvc_yaml.write_text(dvc_yaml.read_text().replace(
            "      - results/build_windows/${item}/windows:\n          persist: true",
            "      - results/build_windows/${item}/windows"))
    elif edit == "dvc_cmd":
        dvc_yaml.write_text(dvc_yaml.read_text().replace("--raw results/convert_raw", "--raw  results/convert_raw "
                                                         "--extra"))
    elif edit == "smk_output":
        data_smk.write_text(data_smk.read_text().replace('plot=update("results/make_demo_data/clip.png")',
                                                         'plot=update("results/make_demo_data/clip.svg")'))
    else:
        dvc_yaml.write_text(dvc_yaml.read_text().replace("    - seed\n    - make_demo_data", "    - make_demo_data"))
    assert (edit == "none") == ((dvc_yaml.read_text(), data_smk.read_text()) == before), "the edit did not apply"
    problems = compare(root)
    if edit == "none":
        assert not problems, problems      # an unchanged copy agrees: the failures below come from the edits
    else:
        assert problems, f"the sync check missed an edit of kind {edit}"


def test_code_inputs_are_files_not_folders():
    """Snakemake sees a folder input change only when its entries change, not when a file inside is edited, so
    code and asset dependencies must be listed file by file (DVC would notice, Snakemake would not)."""
    folders = sorted({d for st in dvc_stages().values() for d in st["input"]
                      if d.startswith(("gesturegen/", "stages/", "envs/")) and (ROOT / d).is_dir()})
    assert not folders, f"list these code dependencies file by file in dvc.yaml and workflow/rules: {folders}"


def test_default_target_asks_for_every_output():
    """`rule all` must request every output of every job: were it to ask only for the committed metrics.json files,
    a fresh clone (metrics in git, data not) could be judged up to date without its data."""
    out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "-F", "--nocolor"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    block = re.search(r"^(?:local)?rule all:\n\s+input: (.*)$", out, flags=re.MULTILINE)
    assert block, out[-2000:]
    requested = {x.strip() for x in block.group(1).split(",")}
    produced = set().union(*(job["output"] for job in snakemake_jobs().values()))
    assert produced <= requested, f"outputs not requested by rule all: {sorted(produced - requested)}"
