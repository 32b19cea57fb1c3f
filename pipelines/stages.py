"""The in-shard chain, in the diagram's order, built from the pipeline options.

decode -> segment -> describe -> visual -> augment -> rewrite -> translate -> encode.
Stages that are not configured are simply absent from the chain (no pass-through stubs).
"""

from __future__ import annotations

from typing import Any

from augment.options import add_augment_arguments, settings_from_options
from transforms.decode import DecodeStage
from transforms.describe import DescribeStage
from transforms.noise_bank import augment_stage_from_options
from transforms.rewrite import RewriteStage, add_llm_arguments
from transforms.segment import SegmentStage, add_segment_args, check_settings
from transforms.stage import Stage
from transforms.translate import TranslateStage, add_translate_arguments, parse_languages
from transforms.visual.options import add_visual_args, check_visual_settings


def build_decode(settings: dict[str, Any]) -> DecodeStage:
    return DecodeStage(
        timeout_s=float(settings.get("decode_timeout_s", 120.0)),
        max_duration_s=float(settings.get("max_duration_s", 3 * 3600.0)),
    )


def build_chain(settings: dict[str, Any]) -> list[Stage]:
    """The stages after decoding, from the (flat) pipeline option values."""
    chain: list[Stage] = [SegmentStage.from_options(settings)]  # before describe: captions per segment
    chain.append(DescribeStage())
    if settings.get("visual"):
        from transforms.visual.stage import visual_stage_from_settings  # open_clip/torch: only when asked

        chain.append(visual_stage_from_settings(settings))
    augment = augment_stage_from_options(settings)
    if augment.settings.enabled:
        chain.append(augment)
    rewrite = RewriteStage.from_options(settings)
    if rewrite.enabled:
        chain.append(rewrite)
    translate = TranslateStage.from_options(settings)
    if translate.languages:
        chain.append(translate)
    return chain


def add_stage_args(parser) -> None:  # noqa: ANN001 - argparse parser
    """Command-line flags of the optional stages."""
    add_segment_args(parser)
    add_augment_arguments(parser)
    add_llm_arguments(parser)
    add_translate_arguments(parser)
    add_visual_args(parser)


def check_stage_settings(settings: dict[str, Any]) -> None:
    """Raise ValueError (one line) when a stage's settings can't work, before any work starts."""
    check_settings(settings)
    settings_from_options(settings)
    check_visual_settings(settings)
    if settings.get("noise_source") == "folder" and not settings.get("noise_input"):
        raise ValueError("--noise-source folder needs --noise-input <folder of labelled noise files>")
    from transforms.translate import lexicon_languages

    unknown = [lang for lang in parse_languages(settings.get("translate_to")) if lang not in lexicon_languages()]
    if unknown and not settings.get("llm_url"):
        raise ValueError(
            f"--translate-to {','.join(unknown)}: not in the shipped lexicon ({','.join(lexicon_languages())}); "
            "give --llm-url to translate with an LLM"
        )
