"""An installed honeybee (a wheel, no checkout around it) finds its configs and runs its entry points."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT

import honeybee.utils.paths as paths

SOURCES = ["honeybee", "conf", "pyproject.toml", "setup.py", "MANIFEST.in", "README.md"]


def build_wheel(out: Path) -> Path:
    """Build honeybee's wheel from a copy of the checkout (the build writes build/ next to its sources)."""
    src = out / "src"
    for name in SOURCES:
        p = ROOT / name
        if p.is_dir():
            shutil.copytree(p, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            src.mkdir(parents=True, exist_ok=True)
            shutil.copy2(p, src / name)
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "-q",
        "-w",
        str(out),
        ".",
    ]
    done = subprocess.run(cmd, cwd=src, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    (wheel,) = out.glob("honeybee-*.whl")
    return wheel


def test_conf_dir_is_the_checkouts_else_the_packaged_copy(tmp_path, monkeypatch):
    assert paths.checkout_root() == ROOT and paths.conf_dir() == ROOT / "conf"
    site = tmp_path / "site-packages"
    (site / "honeybee" / "conf").mkdir(parents=True)
    monkeypatch.setattr(paths, "PACKAGE_DIR", site / "honeybee")
    assert paths.checkout_root() is None
    assert paths.conf_dir() == site / "honeybee" / "conf"
    # A folder that merely holds a conf/ is no checkout; one with pyproject.toml and conf/train.yaml is.
    (site / "conf").mkdir()
    (site / "conf" / "train.yaml").write_text("{}")
    assert paths.checkout_root() is None
    (site / "pyproject.toml").write_text("")
    assert paths.conf_dir() == site / "conf"


def test_wheel_ships_the_configs_and_console_scripts(tmp_path):
    wheel = build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        entry_points = next(z.read(n).decode() for n in names if n.endswith("entry_points.txt"))
    confs = {str(p.relative_to(ROOT)) for p in (ROOT / "conf").rglob("*.yaml")}
    assert {f"honeybee/{c}" for c in confs} <= names
    assert "honeybee/assets/materials_facts.csv" in names and "honeybee/__main__.py" in names
    for name in ("train", "generate", "evaluate", "curate", "export"):
        assert f"honeybee-{name} = honeybee.cli:{name}" in entry_points


def test_python_dash_m_honeybee_names_the_entry_points():
    done = subprocess.run(
        [sys.executable, "-m", "honeybee", "frobnicate"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        == "honeybee: error: usage: python -m honeybee {train,generate,evaluate,curate,export} [key=value ...]"
    )


@pytest.mark.slow
def test_installed_wheel_generates_and_serves_from_another_directory(tmp_path):
    wheel = build_wheel(tmp_path / "dist")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    # torch & co. come from this environment (a .pth line, not --system-site-packages: that would be the base
    # interpreter's, not this venv's); honeybee itself only from the wheel.
    venv_python = venv / "bin" / "python"
    site = subprocess.run(
        [str(venv_python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(site, "shared_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    pip = [
        sys.executable,
        "-m",
        "pip",
        "--python",
        str(venv_python),
        "install",
        "-q",
        "--no-deps",
        str(wheel),
    ]
    subprocess.run(pip, check=True, timeout=300)

    work = tmp_path / "work"  # no checkout here: outputs/ and the configs must not depend on one
    work.mkdir()
    env = {**os.environ, "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1"}
    env.pop("PYTHONPATH", None)
    where = subprocess.run(
        [str(venv_python), "-c", "import honeybee.utils.paths as p; print(p.CONF_DIR, p.checkout_root())"],
        cwd=work,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    conf, checkout = where.stdout.split()
    assert Path(conf) == Path(site) / "honeybee" / "conf" and checkout == "None", where.stderr

    gen = subprocess.run(
        [
            str(venv / "bin" / "honeybee-generate"),
            "model=tiny_llama",
            "prompts=[What is the band gap of silicon?]",
            "max_new_tokens=4",
        ],
        cwd=work,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert gen.returncode == 0, gen.stderr[-3000:]
    (rows,) = work.glob("outputs/generate/runs/*/generations.jsonl")
    row = json.loads(rows.read_text().splitlines()[0])
    assert row["instruction"] == "What is the band gap of silicon?" and row["completion_tokens"] > 0
    assert (rows.parent / "generate.log").is_file()

    serve = (
        "import json, sys, urllib.request\n"
        "from honeybee.generation.launch import served\n"
        "with served(['model=tiny_llama', 'served_model_name=tiny'], 'server.log', timeout_s=300) as url:\n"
        "    body = json.dumps({'model': 'tiny', 'prompt': 'Is copper a metal?', 'max_tokens': 3}).encode()\n"
        "    req = urllib.request.Request(url + '/completions', body, {'Content-Type': 'application/json'})\n"
        "    print(json.load(urllib.request.urlopen(req, timeout=120))['usage']['completion_tokens'])\n"
    )
    done = subprocess.run(
        [str(venv_python), "-c", serve], cwd=work, capture_output=True, text=True, env=env, timeout=900
    )
    log = (work / "server.log").read_text() if (work / "server.log").exists() else ""
    assert done.returncode == 0, done.stderr[-3000:] + log[-3000:]
    assert int(done.stdout.strip()) > 0
    assert "serving tiny at http://127.0.0.1" in log
