"""Settings of the visual stage: a dataclass, its argparse flags, and the launcher's check.

A plain argparse helper, not a ``PipelineOptions`` subclass: subclasses register globally on
import and every SDK worker then re-parses (and warns about) their flags (``pipelines/options.py``).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, fields
from typing import Any

from transforms.visual.scenes import DEFAULT_MIN_SCENE_S, DEFAULT_THRESHOLD

DEFAULT_MODEL = "coca_ViT-B-32"
DEFAULT_PRETRAINED = "mscoco_finetuned_laion2b_s13b_b90k"

DECODINGS = {
    "beam": {"generation_type": "beam_search", "num_beams": 6},
    "greedy": {"generation_type": "top_k", "top_k": 1},
}
ON_ERROR = ("audio_only", "fail")


@dataclass(frozen=True)
class VisualSettings:
    """Everything the visual stage needs, as plain values (picklable, loggable)."""

    frame_fps: float = 1.0
    ssim_threshold: float = DEFAULT_THRESHOLD
    """A sampled frame starts a scene when SSIM with the previous one is below this (scenes.py)."""
    min_scene_s: float = DEFAULT_MIN_SCENE_S
    gray_width: int = 48
    max_scenes: int = 64
    """Scene starts kept per video (RGB copies held until captioned)."""
    max_captions: int = 4
    """Frame captions per sample (a segment's scenes are thinned evenly beyond this)."""
    coca_model: str = DEFAULT_MODEL
    coca_pretrained: str | None = DEFAULT_PRETRAINED
    coca_batch_size: int = 8
    coca_device: str = "auto"
    coca_threads: int = 1
    coca_decoding: str = "beam"
    raw_captions_in_text: bool = False
    """Also add each frame caption to the sample's ``text`` (origin 'visual'); they are always
    kept in ``original_data['visual']``."""
    timeout_s: float = 600.0
    on_error: str = "audio_only"
    """A video whose frames can't be read: keep the sample without visual captions
    (``audio_only``, the reason in ``original_data``) or drop it with a failure record (``fail``)."""

    def __post_init__(self) -> None:
        if not self.frame_fps > 0:
            raise ValueError(f"--frame-fps must be positive, got {self.frame_fps}")
        if not -1.0 <= self.ssim_threshold <= 1.0:
            raise ValueError(f"--ssim-threshold must lie in [-1, 1] (SSIM's range), got {self.ssim_threshold}")
        if self.min_scene_s < 0:
            raise ValueError(f"--min-scene-s must be >= 0, got {self.min_scene_s}")
        if self.coca_batch_size < 1 or self.max_scenes < 1 or self.max_captions < 1:
            raise ValueError("--coca-batch-size, max scenes and max captions must be >= 1")
        if self.coca_decoding not in DECODINGS:
            raise ValueError(f"--coca-decoding must be one of {sorted(DECODINGS)}, not {self.coca_decoding!r}")
        if self.on_error not in ON_ERROR:
            raise ValueError(f"--visual-on-error must be one of {ON_ERROR}, not {self.on_error!r}")

    @property
    def generation(self) -> dict[str, Any]:
        return dict(DECODINGS[self.coca_decoding])


def add_visual_args(parser: argparse.ArgumentParser | Any) -> None:
    """Add the visual-stage flags to an argparse parser."""
    group = (
        parser.add_argument_group("visual cues (paper Appendix B)") if hasattr(parser, "add_argument_group") else parser
    )
    add = group.add_argument
    d = VisualSettings()
    add(
        "--visual",
        action="store_true",
        help="caption video items' scene changes with CoCa and fuse with the audio description",
    )
    add(
        "--frame-fps",
        "--frame_fps",
        dest="frame_fps",
        type=float,
        default=d.frame_fps,
        help="frames sampled per second",
    )
    add(
        "--ssim-threshold",
        "--ssim_threshold",
        dest="ssim_threshold",
        type=float,
        default=d.ssim_threshold,
        help="a new scene starts where SSIM with the previous sampled frame drops below this",
    )
    add(
        "--min-scene-s",
        "--min_scene_s",
        dest="min_scene_s",
        type=float,
        default=d.min_scene_s,
        help="shortest scene (s)",
    )
    add(
        "--coca-model",
        "--coca_model",
        dest="coca_model",
        default=d.coca_model,
        help="open_clip CoCa architecture, local-dir:/hf-hub: model, or a model-config JSON path",
    )
    add(
        "--coca-pretrained",
        "--coca_pretrained",
        dest="coca_pretrained",
        default=d.coca_pretrained,
        help="open_clip pretrained tag or checkpoint path (local, gs://, s3://); 'none' for random weights",
    )
    add("--coca-batch-size", "--coca_batch_size", dest="coca_batch_size", type=int, default=d.coca_batch_size)
    add("--coca-device", "--coca_device", dest="coca_device", default=d.coca_device, help="auto, cpu, cuda, cuda:1 ...")
    add(
        "--coca-threads",
        "--coca_threads",
        dest="coca_threads",
        type=int,
        default=d.coca_threads,
        help="torch CPU threads per worker (0: torch's default)",
    )
    add("--coca-decoding", "--coca_decoding", dest="coca_decoding", choices=sorted(DECODINGS), default=d.coca_decoding)
    add("--visual-max-scenes", "--visual_max_scenes", dest="max_scenes", type=int, default=d.max_scenes)
    add("--visual-max-captions", "--visual_max_captions", dest="max_captions", type=int, default=d.max_captions)
    add(
        "--visual-raw-captions",
        "--visual_raw_captions",
        dest="raw_captions_in_text",
        action="store_true",
        help="also put each frame caption in the sample's text",
    )
    add("--visual-on-error", "--visual_on_error", dest="on_error", choices=ON_ERROR, default=d.on_error)
    add("--visual-timeout-s", "--visual_timeout_s", dest="timeout_s", type=float, default=d.timeout_s)


def settings_from_dict(values: dict[str, Any] | argparse.Namespace) -> VisualSettings:
    """Settings from a flat dict of every pipeline option (or a Namespace); other keys are ignored."""
    everything = values if isinstance(values, dict) else vars(values)
    known = {f.name for f in fields(VisualSettings)}
    kwargs = {name: everything[name] for name in known if everything.get(name) is not None}
    if str(kwargs.get("coca_pretrained", "")).lower() in ("none", ""):
        kwargs["coca_pretrained"] = None
    return VisualSettings(**kwargs)


def check_visual_settings(values: dict[str, Any]) -> VisualSettings | None:
    """None when ``--visual`` is off; else the settings, or one ``ValueError`` line saying why they
    can't work (unknown architecture, missing checkpoint), before any work starts."""
    if not values.get("visual"):
        return None
    settings = settings_from_dict(values)
    import open_clip

    model = settings.coca_model
    if model.endswith(".json"):
        if "://" not in model and not os.path.isfile(model):
            raise ValueError(f"--coca-model: model config not found: {model}")
    elif not model.startswith(("local-dir:", "hf-hub:")) and model not in open_clip.list_models():
        cocas = [m for m in open_clip.list_models() if m.startswith("coca")]
        raise ValueError(f"--coca-model: unknown open_clip architecture {model!r} (CoCa ones: {', '.join(cocas)})")
    pretrained = settings.coca_pretrained
    if pretrained and not model.endswith(".json") and ":" not in model.split("/")[0]:
        tags = open_clip.list_pretrained_tags_by_model(model)
        is_path = "://" in pretrained or os.sep in pretrained or os.path.isfile(pretrained)
        if not is_path and pretrained not in tags:
            raise ValueError(
                f"--coca-pretrained: {pretrained!r} is neither a checkpoint path nor a tag of {model} ({', '.join(tags)})"
            )
        if is_path and "://" not in pretrained and not os.path.isfile(pretrained):
            raise ValueError(f"--coca-pretrained: checkpoint not found: {pretrained}")
    return settings
