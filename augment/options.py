"""Command-line options of the augment stage, as a Beam ``PipelineOptions`` subclass.

    --augment noise,reverb,clip,mask,pitch,gain   which augmentations ("all", "none")
    --augment-copies N                            augmented copies per sample (originals always kept)
    --augment-seed S                              seed of every draw
    --augment-probability P                       chance each non-noise effect joins a copy
    --noise-source generated|folder               where background sounds come from
    --noise-input PATH                            the folder (local, gs://, s3://) for ``folder``
    --noise-max-clips N                           at most N clips held per worker

Flags take dashes or underscores (``--augment_copies`` works too, Beam's convention).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from apache_beam.options.pipeline_options import PipelineOptions

from augment.stage import AugmentSettings, parse_augmentations

NOISE_SOURCES: tuple[str, ...] = ("generated", "folder")


def add_augment_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the augment flags on any argparse parser (Beam's or a plain one)."""
    parser.add_argument(
        "--augment",
        default="none",
        help="comma-separated augmentations: noise,reverb,clip,mask,pitch,gain (or all / none)",
    )
    parser.add_argument("--augment-copies", "--augment_copies", dest="augment_copies", type=int, default=1)
    parser.add_argument(
        "--augment-seed", "--augment_seed", dest="augment_seed", type=int, default=None, help="default: --seed, else 0"
    )
    parser.add_argument(
        "--augment-probability", "--augment_probability", dest="augment_probability", type=float, default=0.5
    )
    parser.add_argument(
        "--noise-source", "--noise_source", dest="noise_source", choices=NOISE_SOURCES, default="generated"
    )
    parser.add_argument("--noise-input", "--noise_input", dest="noise_input", default=None)
    parser.add_argument("--noise-max-clips", "--noise_max_clips", dest="noise_max_clips", type=int, default=200)


def options_view(options: Any, add_arguments: Callable[[Any], None]) -> argparse.Namespace:
    """The flags that ``add_arguments`` defines, read from ``PipelineOptions``, a Namespace or a dict.

    Missing keys take the flags' argparse defaults, so the shard builder's flat settings dict
    works as well as Beam's options. No ``PipelineOptions`` subclass is registered: subclasses
    register globally and every SDK worker then re-parses (and warns about) their flags.
    """
    parser = argparse.ArgumentParser(add_help=False)
    add_arguments(parser)
    values = vars(parser.parse_args([]))
    if isinstance(options, PipelineOptions):
        given = options.get_all_options(add_extra_args_fn=add_arguments)
    else:
        given = options if isinstance(options, dict) else vars(options)
    values.update({k: v for k, v in given.items() if k in values and v is not None})
    return argparse.Namespace(**values)


def settings_from_options(options: Any) -> AugmentSettings:
    """``AugmentSettings`` from ``PipelineOptions``, an argparse namespace or a flat dict.

    Without ``augment_seed`` the pipeline's ``seed`` is used.
    """
    seed = options_view(options, add_augment_arguments).augment_seed
    if seed is None:
        seed = options.get("seed") if isinstance(options, dict) else getattr(options, "seed", None)
    options = options_view(options, add_augment_arguments)
    return AugmentSettings(
        augmentations=parse_augmentations(getattr(options, "augment", "none")),
        copies=int(getattr(options, "augment_copies", 1)),
        seed=int(seed or 0),
        apply_probability=float(getattr(options, "augment_probability", 0.5)),
    )
