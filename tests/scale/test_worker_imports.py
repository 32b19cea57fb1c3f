"""A shard worker starts without the heavy libraries its default stages never use.

Every SDK worker process unpickles ``BuildShardFn`` and so imports ``pipelines.build_shards``;
torch (under ``apache_beam.ml``) and scipy/scikit-image cost seconds of CPU per worker there,
paid again on every worker of a cluster, before its first item.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "scipy", "skimage", "apache_beam.ml", "librosa", "transformers", "faster_whisper", "open_clip")


def _heavy_modules_after(code: str) -> list[str]:
    probe = f"import json, sys\n{code}\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_importing_the_shard_step_loads_no_model_or_science_library() -> None:
    assert _heavy_modules_after("import pipelines.build_shards") == []


def test_setting_up_the_default_chain_loads_no_model_library() -> None:
    """What ``BuildShardFn.setup`` does on a folder of short clips: Whisper waits for a long one."""
    code = (
        "from pipelines.options import config_from\n"
        "from pipelines.stages import build_chain\n"
        "config = config_from({'source': 'folder'})\n"
        "for stage in build_chain(config): stage.setup()"
    )
    assert _heavy_modules_after(code) == []
