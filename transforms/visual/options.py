"""Settings of the visual stage (paper Appendix B): one frozen dataclass, its flags generated.

``check_visual`` is the launcher's check (unknown architecture, missing checkpoint), before any
work starts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from schemas.settings import setting
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
    """Visual cues (paper Appendix B): video frames -> SSIM scene changes -> CoCa captions -> fusion."""

    enabled: bool = setting(
        False,
        "caption video items' scene changes with CoCa and fuse with the audio description",
        shapes_output=True,
        flag="--visual",
    )
    frame_fps: float = setting(1.0, "frames sampled per second", shapes_output=True)
    ssim_threshold: float = setting(
        DEFAULT_THRESHOLD,
        "a new scene starts where SSIM with the previous sampled frame drops below this",
        shapes_output=True,
    )
    min_scene_s: float = setting(DEFAULT_MIN_SCENE_S, "shortest scene (s)", shapes_output=True)
    gray_width: int = field(default=48)
    """Width of the grey frames SSIM compares; not a flag."""
    max_scenes: int = setting(
        64,
        "scene starts kept per video (RGB copies held until captioned)",
        shapes_output=True,
        flag="--visual-max-scenes",
    )
    max_captions: int = setting(
        4,
        "frame captions per sample (a segment's scenes thinned evenly beyond this)",
        shapes_output=True,
        flag="--visual-max-captions",
    )
    coca_model: str = setting(
        DEFAULT_MODEL,
        "open_clip CoCa architecture, local-dir:/hf-hub: model, or a model-config JSON path",
        shapes_output=True,
    )
    coca_pretrained: str | None = setting(
        DEFAULT_PRETRAINED,
        "open_clip pretrained tag or checkpoint path (local, gs://, s3://); 'none' for random weights",
        shapes_output=True,
    )
    coca_batch_size: int = setting(8, "frames captioned per CoCa batch", shapes_output=False)
    coca_device: str = setting("auto", "auto, cpu, cuda, cuda:1 ...", shapes_output=False)
    coca_threads: int = setting(1, "torch CPU threads per worker (0: torch's default)", shapes_output=False)
    coca_decoding: str = setting("beam", "caption decoding", shapes_output=True, choices=sorted(DECODINGS))
    raw_captions_in_text: bool = setting(
        False,
        "also put each frame caption in the sample's text (they are always kept in original_data['visual'])",
        shapes_output=True,
        flag="--visual-raw-captions",
    )
    timeout_s: float = setting(
        600.0, "give up reading one video after this (s)", shapes_output=False, flag="--visual-timeout-s"
    )
    on_error: str = setting(
        "audio_only",
        "a video whose frames can't be read: keep the sample without visual captions, or drop it with a failure",
        shapes_output=True,
        flag="--visual-on-error",
        choices=ON_ERROR,
    )

    def __post_init__(self) -> None:
        if isinstance(self.coca_pretrained, str) and self.coca_pretrained.strip().lower() in ("none", ""):
            object.__setattr__(self, "coca_pretrained", None)
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


def check_visual(config: Any) -> None:
    """One ``ValueError`` line when ``--visual`` is on and CoCa can't load (unknown architecture,
    missing checkpoint), before any work starts."""
    settings: VisualSettings = config.visual
    if not settings.enabled:
        return
    import open_clip  # torch: only when the visual stage is on

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
