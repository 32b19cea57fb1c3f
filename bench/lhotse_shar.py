"""The lhotse peer of bench/shard_build.py: WAV files -> 48 kHz FLAC Shar shards, as lhotse does it.

Runs in its own venv (lhotse is no dependency of this project), started by bench/shard_build.py:

    python3 -m venv V && V/bin/pip install torch==2.13.0 && V/bin/pip install lhotse scipy urllib3 soundfile
    V/bin/python bench/lhotse_shar.py --out DIR --shard-size 512 --jobs 2 FILE.wav ...

``CutSet.resample(48000).to_shar(out, fields={"recording": "flac"}, shard_size, num_jobs)``:
lhotse 1.33's Shar export with its own parallel jobs. Prints the number of cuts written.
"""

from __future__ import annotations

import argparse
import sys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--shard-size", type=int, default=512)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--list", required=True, help="a text file with one WAV path per line")
    args = parser.parse_args()

    from lhotse import CutSet, Recording, RecordingSet

    with open(args.list) as f:
        paths = [line.strip() for line in f if line.strip()]
    recordings = RecordingSet.from_recordings(Recording.from_file(p) for p in paths)
    cuts = CutSet.from_manifests(recordings=recordings).resample(48_000)
    written = cuts.to_shar(args.out, fields={"recording": "flac"}, shard_size=args.shard_size, num_jobs=args.jobs)
    print(f"{len(cuts)} cuts in {len(written['recording'])} shards", file=sys.stderr)


if __name__ == "__main__":
    main()
