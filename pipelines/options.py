"""Options of the shard build (our flags; Beam's own pass through).

Beam's own flags (``--runner``, ``--project``, ``--temp_location``, ``--flink_master``...)
pass through untouched, so the same command line runs on every runner.
"""

from __future__ import annotations

import os


class ShardOptions:
    """What to build and where.

    A plain argparse helper, not a ``PipelineOptions`` subclass: subclasses register
    globally, and their flags were then re-parsed (and warned about) by every SDK worker.
    Beam's own options still pass through from the command line.
    """

    @classmethod
    def add_arguments(cls, parser) -> None:  # noqa: ANN001 - an argparse parser
        parser.add_argument("--source", default="demo", help="dataset adapter name (see --list-sources); default: demo")
        parser.add_argument(
            "--input", default=None, help="the dataset's folder as its publisher ships it (local, gs://, s3://)"
        )
        parser.add_argument(
            "--lang", default="en", help="language: espeak-ng voice for the demo corpus, locale for Common Voice"
        )
        parser.add_argument("--output", default="data/shards", help="root folder of the corpora (local, gs://, s3://)")
        parser.add_argument("--name", default=None, help="corpus folder under --output (default: <source>-<lang>)")
        parser.add_argument("--seed", type=int, default=0, help="seed of every random choice (same seed, same shards)")
        parser.add_argument("--limit", type=int, default=None, help="use at most this many source items")
        parser.add_argument("--demo-items", type=int, default=60, help="size of the demo corpus (items per language)")
        parser.add_argument(
            "--demo-videos", type=int, default=0, help="demo corpus: also this many synthetic videos (for --visual)"
        )
        parser.add_argument("--shard-size", type=int, default=512, help="source items per shard (default 512)")
        parser.add_argument(
            "--shard-max-seconds",
            type=float,
            default=None,
            help="also cap a shard's audio by the items' duration hints",
        )
        parser.add_argument(
            "--split-fractions", default="0.8,0.1,0.1", help="train,valid,test fractions for items without a split"
        )
        parser.add_argument(
            "--batch-items", type=int, default=32, help="items decoded and processed together inside a shard"
        )
        parser.add_argument(
            "--decode-timeout-s", type=float, default=120.0, help="give up on an item whose decoding takes longer"
        )
        parser.add_argument("--max-duration-s", type=float, default=3 * 3600.0, help="refuse inputs longer than this")
        parser.add_argument("--overwrite", action="store_true", help="rebuild shards that are already complete")
        parser.add_argument(
            "--source-option",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="adapter-specific setting, repeatable (e.g. --source-option map=path=file,text=caption)",
        )
        parser.add_argument(
            "--map",
            default=None,
            metavar="FIELD=COLUMN,...",
            help="folder adapter: manifest column mapping, e.g. path=file,text=caption,language=lang",
        )
        parser.add_argument(
            "--accelerator",
            default=None,
            help="Beam resource hint for the shard step (model stages), e.g. "
            "'type:nvidia-tesla-t4;count:1;install-nvidia-driver' on Dataflow",
        )
        parser.add_argument(
            "--workers", type=int, default=os.cpu_count() or 1, help="local worker processes (direct/portable)"
        )


def split_fractions(text: str) -> tuple[float, float, float]:
    parts = [float(x) for x in text.split(",")]
    if len(parts) != 3 or any(p < 0 for p in parts) or abs(sum(parts) - 1.0) > 1e-6:
        raise ValueError(f"--split-fractions wants three non-negative numbers summing to 1, got {text!r}")
    return parts[0], parts[1], parts[2]


def source_options(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"--source-option wants KEY=VALUE, got {pair!r}")
        key, value = pair.split("=", 1)
        out[key.strip()] = value
    return out
