"""clara-corpus: multilingual, emotion-aware audio-text corpora with Apache Beam, and the CLARA trainer.

Dataflow ships this package to its workers with ``--setup_file ./setup.py``.
"""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent


def requirements() -> list[str]:
    lines = (HERE / "requirements.txt").read_text().splitlines()
    reqs = [line.split("#")[0].strip() for line in lines]
    return ["torch==2.14.1", "torchvision==0.29.1", *[r for r in reqs if r]]


setup(
    name="clara-corpus",
    version="0.1.0",
    description="Build multilingual emotion-aware audio-text WebDataset corpora (Apache Beam) and train CLARA encoders",
    long_description=(HERE / "README.md").read_text() if (HERE / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["schemas*", "pipelines*", "transforms*", "augment*", "model*"]),
    package_data={
        "schemas": ["*.json"],
        "pipelines.sources": ["data/*.json"],
        "transforms": ["prompts/*.txt", "data/*.json"],
        "model": ["configs/*.yaml"],
    },
    install_requires=requirements(),
    entry_points={"console_scripts": ["clara=pipelines.cli:main"]},
)
