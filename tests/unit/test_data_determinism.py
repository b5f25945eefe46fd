"""The data stages store the same bytes on every x86-64 machine: runs under emulated CPUs agree byte for byte.

Each configuration (tests.datastages.CONFIGS) runs make_demo_data -> convert_raw -> build_windows on the tiny preset
in a fresh process: numpy's dispatch limited to AVX2 or to the SSE4.2 baseline, another OpenBLAS kernel and thread
count, glibc's libm without FMA/AVX2 (which also reaches espeak-ng's own libm calls) and libsoxr without SIMD.
gesturegen.numerics must agree with itself under the same configurations, bit for bit.
"""
import subprocess
import sys

import pytest

from tests.datastages import CONFIGS, stage_env


@pytest.mark.parametrize("config", ["avx2", "sse42"])
def test_data_stages_store_the_same_bytes_on_other_cpus(data_stage_hashes, config):
    native, other = data_stage_hashes("native"), data_stage_hashes(config)
    assert sorted(other) == sorted(native)
    differ = [k for k in native if other[k] != native[k]]
    assert not differ, (f"under {config} ({CONFIGS[config]}) these outputs differ from a plain run: {differ}; "
                        f"`python -m tests.datastages --all` tells the sources apart, gesturegen.numerics has "
                        f"deterministic replacements")


_NUMERICS = """
import hashlib
import numpy as np
from gesturegen import numerics as nx
rng = np.random.default_rng(0)
x = rng.uniform(-40, 40, 100_000)
p = np.ldexp(rng.uniform(0.5, 1.0, 100_000), rng.integers(-60, 60, 100_000))  # inputs by exact operations
m = rng.standard_normal((1000, 3, 3))
outs = [nx.exp(x), nx.log(p), nx.log10(p), *nx.sincos(x), nx.atan(x), nx.arccos(np.clip(x / 40, -1, 1)),
        nx.matmul3(m, m), nx.matvec3(m, m[:, 0]), nx.norm3(m), nx.standard_normal(rng, (5001,)),
        nx.gaussian_filter1d(m.reshape(1000, 9), 3.7, axis=0, mode="nearest"),
        nx.power_spectrum(x.reshape(-1, 1000)[:, :512]), nx.resample(x[:20000] / 40, 22050, 16000)]
print(hashlib.sha256(b"".join(np.ascontiguousarray(o).tobytes() for o in outs)).hexdigest())
"""


def test_numerics_give_the_same_bits_on_other_cpus():
    def run(config: dict) -> str:
        done = subprocess.run([sys.executable, "-c", _NUMERICS], check=False, env=stage_env(config),
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout.strip()

    digests = {name: run(CONFIGS[name]) for name in ("native", "avx2", "sse42")}
    assert len(set(digests.values())) == 1, digests
