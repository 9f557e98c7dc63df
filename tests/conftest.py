"""Shared fixtures: the tiny model, the real-data location, and a runner for the real entry points."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from honeybee.generation.launch import served

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("HONEYBEE_SHARED_DATA", ROOT.parent / "shared" / "data"))
MATSCI_INSTRUCT = SHARED_DATA / "matsci_instruct" / "train_instruction_from_chatgpt.json"

# Property tests (hypothesis): deterministic and bounded in CI; HYPOTHESIS_PROFILE=thorough searches harder.
settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile("thorough", parent=settings.get_profile("ci"), derandomize=False, max_examples=2000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# Fast, quiet tiny-model runs: no held-out generation, no progress bar spam, no W&B network.
TINY = ["model=tiny_llama", "heldout_check.enabled=false", "callbacks.progress_bar.refresh_rate=0"]


def needs_shared(path: Path):
    return pytest.mark.skipif(
        not path.exists(), reason=f"real data not found at {path} (../shared/data is absent)"
    )


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    run_dir: Path

    @property
    def last_err_line(self) -> str:
        lines = [ln for ln in self.stderr.strip().splitlines() if ln.strip()]
        return lines[-1] if lines else ""


def run_script(
    script: str, args: list[str], run_dir: Path, timeout: int = 600, env: dict | None = None
) -> Run:
    """Run ``python <script> args... hydra.run.dir=<run_dir>`` from the repo root, as a user would."""
    full_env = {**os.environ, "WANDB_MODE": "offline", "HYDRA_FULL_ERROR": "0", **(env or {})}
    full_env.pop("HYDRA_FULL_ERROR") if full_env.get("HYDRA_FULL_ERROR") == "0" else None
    cmd = [sys.executable, str(ROOT / script), *args, f"hydra.run.dir={run_dir}"]
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=full_env)
    return Run(p.returncode, p.stdout, p.stderr, Path(run_dir))


@pytest.fixture
def train_run(tmp_path):
    """Call ``train_run(args, name=...)`` to run train.py into ``tmp_path/<name>``."""

    def _run(args: list[str], name: str = "run", **kw) -> Run:
        return run_script("train.py", args, tmp_path / name, **kw)

    return _run


@pytest.fixture(scope="session")
def tiny_cfg():
    from omegaconf import OmegaConf

    return OmegaConf.load(ROOT / "conf" / "model" / "tiny_llama.yaml")


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_cfg):
    from honeybee.model.loading import load_tokenizer

    return load_tokenizer(tiny_cfg)


@pytest.fixture
def tiny_model(tiny_cfg):
    from honeybee.model.loading import load_model

    return load_model(tiny_cfg)


# One torch thread per process: the machines running the suite share few cores, and oversubscribed OpenMP
# threads make tiny-model generation ~10x slower.
ONE_THREAD = {"OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="session")
def tiny_run_dir(tmp_path_factory) -> Path:
    """A finished tiny-model run folder (adapter/, splits/, config.yaml), trained once per session."""
    d = tmp_path_factory.mktemp("tiny_run") / "run"
    r = run_script(
        "train.py", ["model=tiny_llama", "debug=fdr", "heldout_check.enabled=false"], d, env=ONE_THREAD
    )
    assert r.returncode == 0, r.stderr[-2000:]
    return d


@pytest.fixture(scope="session")
def tiny_server(tiny_run_dir, tmp_path_factory):
    """``python generate.py serve=true`` on the tiny run, on a free port; yields its base URL, always stopped."""
    log = tmp_path_factory.mktemp("server") / "server.log"
    overrides = [f"adapter={tiny_run_dir}", "served_model_name=tiny", f"hydra.run.dir={log.parent}"]
    with served(overrides, log, env=ONE_THREAD, timeout_s=120) as url:
        yield url
