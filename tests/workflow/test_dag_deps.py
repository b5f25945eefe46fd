"""Every stage depends, in both DAG files, on every module of ours it imports (transitively, function-level
imports included, package __init__ files too) and on every file of the repository that this code reads.

The set is derived from the code: the import graph from the AST, modules named in string literals (run as
`python -m gesturegen.data.legacy_worker` in a subprocess), the package data read through
`importlib.resources.files("<package>")` (every non-Python file of that package) and repository files named by a
literal path join such as `REPO_ROOT / "envs" / "legacy.txt"`. Print the expected lists with
`python -m tests.workflow.test_dag_deps` when a stage's imports change.
"""
from __future__ import annotations

import ast
import re
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = ("gesturegen", "stages")
_MODULE_NAME = re.compile(r"^(gesturegen|stages)(\.\w+)+$")


def _module_file(name: str) -> Path | None:
    base = ROOT.joinpath(*name.split("."))
    for cand in (base.with_suffix(".py"), base / "__init__.py"):
        if cand.is_file():
            return cand
    return None


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _imports(path: Path, module: str) -> set[str]:
    """Our modules that `path` (module `module`) imports anywhere in its body."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found |= {f"{target}.{a.name}" for a in node.names}   # `from pkg import submodule`
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _MODULE_NAME.match(node.value):
            found.add(node.value)       # run as `python -m <module>` in a subprocess, or resources.files("<pkg>")
    return {n for n in found if n.split(".")[0] in OURS and _module_file(n) is not None}


def _data_files(path: Path) -> set[Path]:
    """Repository files that this module reads: package data and literal path joins."""
    tree = ast.parse(path.read_text(), str(path))
    out: set[Path] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "files" and node.args \
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            pkg = ROOT.joinpath(*node.args[0].value.split("."))
            out |= {f for f in pkg.iterdir() if f.is_file() and f.suffix not in (".py", ".pyc")}
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            parts, cur = [], node
            while isinstance(cur, ast.BinOp) and isinstance(cur.op, ast.Div) and isinstance(cur.right, ast.Constant):
                parts.insert(0, str(cur.right.value))
                cur = cur.left
            if len(parts) >= 2 and (ROOT.joinpath(*parts)).is_file():
                out.add(ROOT.joinpath(*parts))
    return out


@cache
def code_deps(stage: str) -> frozenset[str]:
    """Repository-relative paths of every file the stage `stages/<stage>.py` runs or reads."""
    todo, seen = [f"stages.{stage}"], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo += _parents(name)
        todo += sorted(_imports(_module_file(name), name))
    files = {_module_file(n) for n in seen}
    files |= {d for f in list(files) for d in _data_files(f)}
    return frozenset(str(f.relative_to(ROOT)) for f in files)


def _declared() -> dict[str, tuple[set[str], set[str]]]:
    """stage name -> (Snakemake inputs, DVC deps) restricted to code and repository files, first job of each."""
    from tests.workflow.test_dag_sync import dvc_stages, snakemake_jobs

    def ours(paths: set[str]) -> set[str]:
        return {p for p in paths if p.startswith(("gesturegen/", "stages/", "envs/"))}

    smk = {rule: ours(job["input"]) for (rule, _), job in sorted(snakemake_jobs().items())}
    dvc = {name: ours(st["input"]) for (name, _), st in sorted(dvc_stages().items())}
    return {name: (smk.get(name, set()), dvc.get(name, set())) for name in set(smk) | set(dvc)}


def test_the_derivation_sees_lazy_imports_package_data_and_path_literals():
    deps = code_deps("train_fgd_encoder")
    assert "gesturegen/systems/fgd_system.py" in deps            # imported inside a function
    assert {"gesturegen/__init__.py", "gesturegen/data/__init__.py", "stages/__init__.py"} <= deps
    assert "gesturegen/assets/ted_expressive_means.json" in deps   # via skeleton.py's resources.files(...)
    assert "envs/legacy.txt" in code_deps("convert_raw")           # REPO_ROOT / "envs" / "legacy.txt"


def compare(declared: dict[str, tuple[set[str], set[str]]]) -> list[str]:
    problems = []
    for name, (smk, dvc) in sorted(declared.items()):
        want = set(code_deps(name))
        for tool, got in (("workflow/rules", smk), ("dvc.yaml", dvc)):
            if got != want:
                problems.append(f"{name} in {tool}: missing {sorted(want - got)}, not imported {sorted(got - want)}")
    return problems


@pytest.fixture(scope="module")
def declared():
    return _declared()


def test_every_stage_lists_exactly_the_code_it_runs(declared):
    problems = compare(declared)
    assert not problems, "stage dependencies out of date (print them with `python -m tests.workflow.test_dag_deps`)" \
                         ":\n" + "\n".join(problems)


@pytest.mark.parametrize("stage, tool", [("make_demo_data", 0), ("build_windows", 1)])
def test_a_rule_missing_one_module_is_caught(declared, stage, tool):
    lists = {k: (set(v[0]), set(v[1])) for k, v in declared.items()}
    lists[stage][tool].discard("gesturegen/data/skeleton.py")
    assert any(stage in p and "gesturegen/data/skeleton.py" in p for p in compare(lists))


def _rewrite(text: str, start: re.Pattern, item: str, fmt: str, stage_of: re.Pattern) -> str:
    """Replace the code entries of each stage's dependency block in a DAG file: the block's other lines (data)
    first, in their order, then the derived code entries, sorted; every other line is kept. A block ends at the
    first line indented no deeper than its header."""
    out: list[str] = []
    stage, block, depth, indent = None, None, 0, ""

    def width(line: str) -> int:
        return len(line) - len(line.lstrip())

    for line in text.splitlines(keepends=True):
        if block is not None:
            if line.strip() and (width(line) > depth or (width(line) == depth and line.lstrip().startswith("- "))):
                entry = re.match(item, line)
                if entry:
                    indent = entry.group(1)
                if not (entry and entry.group(2).startswith(("gesturegen/", "stages/", "envs/"))):
                    block.append(line)
                continue
            out.extend(block)
            out.extend(fmt.format(indent=indent, path=d) for d in sorted(code_deps(stage)))
            block = None
        m = stage_of.match(line)
        if m:
            stage = m.group(1)
        out.append(line)
        if stage and start.match(line):
            block, depth = [], width(line)
    if block is not None:
        out.extend(block)
        out.extend(fmt.format(indent=indent, path=d) for d in sorted(code_deps(stage)))
    return "".join(out)


def write_declarations() -> None:
    """Rewrite the code dependencies of every stage in dvc.yaml and workflow/rules/*.smk."""
    dvc = ROOT / "dvc.yaml"
    dvc.write_text(_rewrite(dvc.read_text(), re.compile(r"^\s+deps:\s*$"), r"(\s*- )(\S+)\s*$",
                            "{indent}{path}\n", re.compile(r"^  (\w+):\s*$")))
    for smk in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        smk.write_text(_rewrite(smk.read_text(), re.compile(r"^\s+input:\s*$"), r'(\s*)"([^"]+)",\s*$',
                                '{indent}"{path}",\n', re.compile(r"^rule (\w+):")))


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write_declarations()
    names = [a for a in sys.argv[1:] if a != "--write"]
    for st in names or sorted(p.stem for p in (ROOT / "stages").glob("[a-z]*.py")):
        print(f"{st}:")
        print("\n".join(f"    - {d}" for d in sorted(code_deps(st))))
