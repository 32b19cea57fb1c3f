"""The in-shard chain, in the diagram's order, built from the pipeline options.

decode -> segment -> describe -> visual -> augment -> rewrite/translate -> encode.
Stages that are not configured are simply absent from the chain (no pass-through stubs).
"""

from __future__ import annotations

from typing import Any

from transforms.decode import DecodeStage
from transforms.describe import DescribeStage
from transforms.segment import SegmentStage, add_segment_args, check_settings
from transforms.stage import Stage


def build_decode(settings: dict[str, Any]) -> DecodeStage:
    return DecodeStage(
        timeout_s=float(settings.get("decode_timeout_s", 120.0)),
        max_duration_s=float(settings.get("max_duration_s", 3 * 3600.0)),
    )


def build_chain(settings: dict[str, Any]) -> list[Stage]:
    """The stages after decoding, from the (flat) pipeline option values."""
    chain: list[Stage] = [SegmentStage.from_options(settings)]  # before describe: captions per segment
    chain.append(DescribeStage())
    return chain


def add_stage_args(parser) -> None:  # noqa: ANN001 - argparse parser
    """Command-line flags of the optional stages that have landed."""
    add_segment_args(parser)


def check_stage_settings(settings: dict[str, Any]) -> None:
    """Raise ValueError (one line) when a stage's settings can't work, before any work starts."""
    check_settings(settings)
