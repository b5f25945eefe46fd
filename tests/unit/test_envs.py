import yaml

from tests.conftest import ROOT


def _requirements():
    lines = (ROOT / "envs" / "requirements.txt").read_text().splitlines()
    return [x.strip() for x in lines if x.strip() and not x.startswith("#")]


def test_conda_env_pins_the_same_stack_as_requirements():
    env = yaml.safe_load((ROOT / "envs" / "gesturegen.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert pip == _requirements()


def test_every_requirement_is_pinned_exactly_and_torch_is_the_cpu_safe_pin():
    reqs = _requirements()
    assert all("==" in r for r in reqs), [r for r in reqs if "==" not in r]
    assert "torch==2.13.0" in reqs
