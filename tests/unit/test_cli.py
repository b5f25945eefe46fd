import subprocess
import sys

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


def test_console_script_is_installed():
    out = subprocess.run([sys.executable, "-m", "gesturegen.cli", "--version"], capture_output=True, text=True)
    assert out.stdout.strip() == "gesturegen 0.1.0"
