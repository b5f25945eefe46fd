"""The README's generated blocks stay current, its images and links resolve in a fresh clone.

Refresh the blocks with: UPDATE_README=1 python -m pytest tests/workflow/test_readme.py
"""
from __future__ import annotations

import math
import os
import re
import subprocess
import sys

from tests.conftest import ROOT

README = ROOT / "README.md"


def _block(name: str, body: str) -> str:
    return f"<!-- {name}:begin -->\n{body.rstrip()}\n<!-- {name}:end -->"


def _check_or_update(name: str, body: str) -> None:
    text = README.read_text()
    pattern = re.compile(rf"<!-- {name}:begin -->.*?<!-- {name}:end -->", re.DOTALL)
    assert pattern.search(text), f"README.md has no {name} block"
    wanted = pattern.sub(lambda _: _block(name, body), text)
    if os.environ.get("UPDATE_README") == "1":
        README.write_text(wanted)
    assert wanted == text, f"README.md's {name} block is stale: run UPDATE_README=1 pytest {__file__}"


def test_readme_dag_is_generated_from_the_workflow():
    out = subprocess.run([sys.executable, "-m", "dvc", "dag", "--mermaid"], cwd=ROOT, check=True,
                         capture_output=True, text=True, env={**os.environ, "DVC_NO_ANALYTICS": "1"}).stdout
    _check_or_update("dag", f"```mermaid\n{out.strip()}\n```")


def test_readme_demo_rules_match_docs():
    _check_or_update("demo-rules", (ROOT / "docs" / "demo_rules.md").read_text())


def test_readme_quick_start_is_two_commands_that_exist():
    text = README.read_text()
    quick = text.split("## Quick start", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in quick.strip().splitlines()]
    assert commands == ["bash envs/quickstart.sh", ".venv/bin/python -m pytest"]
    assert (ROOT / "envs" / "quickstart.sh").is_file()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash envs/setup.sh" in ci and ".venv/bin/python -m pytest ||" in ci
    assert ".venv/bin/python -m pytest -m slow ||" in ci          # the end-to-end runs, once


def committed(path: str) -> str:
    """The file as git's index holds it (what is or is about to be committed), not the workspace copy: a run on
    another machine rewrites the workspace copy with its own low bits, and the README must not depend on that."""
    out = subprocess.run(["git", "show", f":{path}"], cwd=ROOT, capture_output=True, text=True, check=False)
    if out.returncode == 0:
        return out.stdout
    return (ROOT / path).read_text()      # not a git checkout (e.g. an unpacked archive)


BASELINE_KEYS = ["fgd_corrected", "kid_corrected", "fgd_faithful", "rprec_top3", "bcgap", "beat_f1", "lexical_acc",
                 "speaker_acc", "bc_corrected", "diversity_corrected", "joint_mae"]


def baseline_table(summary: list[dict]) -> str:
    """The README's reference rows: "n/a" where a metric does not apply to a control (the ground truth's paired
    errors), "–" where it was not computed (e.g. the oracle without annotations) or is missing."""
    cells = {(r["split"], r["control"], r["metric"]): r for r in summary}

    def num(v: float, like: float) -> str:          # the precision of the mean, for the mean and its CI
        return f"{v:.1f}" if abs(like) >= 10 else f"{v:.3f}" if abs(like) >= 0.1 else f"{v:.4f}"

    def cell(e: dict | None) -> str:
        if e is None:
            return "–"
        if str(e.get("applicable", "True")) == "False":
            return "n/a" if str(e.get("note", "")).startswith("not applicable") else "–"
        m, c = e["mean"], 0.0 if math.isnan(e["ci95"]) else e["ci95"]     # NaN: a single finite run
        return "–" if math.isnan(m) else f"{num(m, m)} ± {num(c, m)}"

    lines = []
    for split in dict.fromkeys(r["split"] for r in summary):
        controls = list(dict.fromkeys(r["control"] for r in summary if r["split"] == split))
        n = cells[(split, controls[0], "fgd_corrected")]["n_windows"]
        lines.append(f"| {split} ({int(float(n))} query windows) | " + " | ".join(BASELINE_KEYS) + " |")
        lines.append("|---|" + "---|" * len(BASELINE_KEYS))
        lines += [f"| {c} | " + " | ".join(cell(cells.get((split, c, k))) for k in BASELINE_KEYS) + " |"
                  for c in controls]
        lines.append("")
    return "\n".join(lines)


def test_readme_baseline_rows_match_the_committed_summary():
    import csv
    import io
    summary = [{k: ((float(v) if v not in ("", None) else math.nan) if k in ("mean", "ci95") else v)
                for k, v in row.items()}
               for row in csv.DictReader(io.StringIO(committed("results/evaluate_baselines/demo/summary.csv")))]
    _check_or_update("baselines", baseline_table(summary))


def test_readme_images_are_committed_files():
    """Images must show in a fresh clone: committed under docs/, never the git-ignored results/ folder."""
    tracked = set(subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                                 check=True).stdout.split())
    images = re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", README.read_text())
    assert images, "the README shows no figure"
    for image in images:
        assert image.startswith("docs/") and image in tracked, f"{image}: not a committed file under docs/"
        assert (ROOT / image).stat().st_size < 300_000, f"{image}: keep README images small"


def test_readme_points_only_at_sections_that_exist():
    """Links to #anchors in the README and in envs/ files point at headings that exist."""
    text = README.read_text()
    anchors = {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
               for h in re.findall(r"^#+ (.+)$", text, flags=re.M)}
    links = re.findall(r"\]\(#([^)]+)\)", text)
    assert set(links) <= anchors, sorted(set(links) - anchors)
    for f in ("envs/requirements.txt", "envs/setup.sh", "envs/quickstart.sh"):
        for section in re.findall(r'README "([^"]+)"', (ROOT / f).read_text()):
            assert re.search(rf"^#+ {re.escape(section)}$", text, flags=re.M), f"{f} points at README \"{section}\""


def test_committed_reads_the_index_not_the_workspace(tmp_path, monkeypatch):
    """After a run on another machine rewrites a tracked results file, the README check still compares with what is
    committed (the old check read the workspace copy and failed right after the quick start)."""
    import tests.workflow.test_readme as mod
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "summary.csv").write_text("committed\n")
    subprocess.run(["git", "add", "summary.csv"], cwd=tmp_path, check=True)
    (tmp_path / "summary.csv").write_text("rewritten by a run elsewhere\n")
    monkeypatch.setattr(mod, "ROOT", tmp_path)
    assert mod.committed("summary.csv") == "committed\n"
