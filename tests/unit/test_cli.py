import re
import subprocess
import sys
from pathlib import Path

import gesturegen
from gesturegen.cli import main
from stages import build_windows
from tests.conftest import write_params


def test_params_command_prints_resolved_params(capsys, repo_root):
    assert main(["params", str(repo_root / "params.yaml")]) == 0
    out = capsys.readouterr().out
    assert "build_windows:" in out and "stride: 10" in out


def test_params_command_reports_bad_key(tmp_path, capsys):
    path = write_params(tmp_path / "p.yaml", {"build_windows.stride": "x"})
    assert main(["params", str(path)]) == 2
    assert "build_windows.stride: expected int, got str ('x')" in capsys.readouterr().err


def test_windows_command(synthetic_raw, tmp_path, params_file, capsys):
    build_windows.main(["--params", str(params_file()), "--dataset", "demo", "--raw", str(synthetic_raw),
                        "--out-dir", str(tmp_path / "out")])
    assert main(["windows", str(tmp_path / "out/windows/train")]) == 0
    out = capsys.readouterr().out
    assert "36 windows of 34 frames at 15 fps" in out and "(36, 34, 126)" in out


def test_console_script_is_installed(tmp_path):
    """The `gesturegen` executable that `pip install` put beside this interpreter (not `python -m`), run from a
    folder outside the repository so that only the installed entry point can answer."""
    exe = Path(sys.executable).parent / "gesturegen"
    assert exe.is_file(), f"{exe}: no console script; is the package installed (envs/setup.sh)?"
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, cwd=tmp_path, check=False)
    assert out.returncode == 0 and out.stdout.strip() == f"gesturegen {gesturegen.__version__}", out.stderr


def test_plots_template_is_offline(tmp_path):
    """The DVC plots template the set-up writes: vega, vega-lite and vega-embed inline, no script from a CDN."""
    path = tmp_path / "plots.html"
    assert main(["plots-template", str(path)]) == 0
    html = path.read_text()
    assert "{plot_divs}" in html and "{scripts}" not in html          # DVC's CDN <script> tags have no place
    assert "window.vegaEmbed=" in html and "cdn.jsdelivr" not in html
    assert not re.search(r"<script[^>]*\bsrc\s*=", html, flags=re.IGNORECASE)     # nothing fetched from the network


def test_pull_names_the_remote_and_what_it_lacks(tmp_path):
    """`gesturegen pull` with the real DVC: an unreachable remote and an empty one are named with what to do (DVC's
    own message names neither); after a push, the pull restores the file."""
    import os
    import shutil

    repo = tmp_path / "repo"
    repo.mkdir()
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}

    def run(*cmd):
        return subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, check=False)
    dvc = (sys.executable, "-m", "dvc")
    pull = (sys.executable, "-m", "gesturegen.cli", "pull")
    for cmd in (("git", "init", "-q"), (*dvc, "init", "-q")):
        assert run(*cmd).returncode == 0
    (repo / "a.txt").write_text("the data\n")
    assert run(*dvc, "add", "-q", "a.txt").returncode == 0
    assert run(*dvc, "remote", "add", "-d", "lab", str(tmp_path / "nowhere")).returncode == 0
    p = run(*pull)
    assert p.returncode == 1 and f"remote 'lab' ({tmp_path / 'nowhere'}) cannot be reached: the folder does not " \
                                  f"exist" in p.stderr, p.stderr
    (tmp_path / "nowhere").mkdir()                                      # reachable, empty
    (repo / "a.txt").unlink()
    shutil.rmtree(repo / ".dvc" / "cache")
    p = run(*pull)
    assert p.returncode == 1 and "remote 'lab'" in p.stderr and "does not hold 1 of the tracked outputs" in p.stderr \
        and "\n  a.txt\n" in p.stderr and "dvc push -r lab" in p.stderr, p.stderr
    (repo / "a.txt").write_text("the data\n")                           # computed again, pushed, pulled elsewhere
    assert run(*dvc, "add", "-q", "a.txt").returncode == 0 and run(*dvc, "push", "-q").returncode == 0
    (repo / "a.txt").unlink()
    shutil.rmtree(repo / ".dvc" / "cache")
    assert run(*pull).returncode == 0 and (repo / "a.txt").read_text() == "the data\n"


def test_warm_up_fills_numbas_cache_for_the_next_process(tmp_path):
    """warm-up compiles librosa's kernels into numba's on-disk cache (here NUMBA_CACHE_DIR): a new process then
    loads them instead of compiling (~15 s on a new environment's first audio-feature call)."""
    import os

    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    cmd = [sys.executable, "-c", "from gesturegen.cli import main; raise SystemExit(main(['warm-up']))"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    assert "compiled and cached" in done.stdout
    cached = {p.name.split("-")[0] for p in (tmp_path / "numba").rglob("*.nbi")}
    assert any("peak_pick" in name for name in cached) and len(cached) >= 3, cached
