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


def test_importing_the_shard_step_loads_no_model_or_science_library() -> None:
    code = (
        "import json, sys; import pipelines.build_shards; "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
