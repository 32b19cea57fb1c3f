"""Visual cues for video items (paper Appendix B): frames -> SSIM scene starts -> CoCa -> fusion."""

from typing import Any

from transforms.visual.options import VisualSettings, add_visual_args, check_visual_settings, settings_from_dict


def __getattr__(name: str) -> Any:  # the stage pulls in open_clip/torch: imported on first use
    if name in ("VisualStage", "visual_stage_from_settings"):
        from transforms.visual import stage

        return getattr(stage, name)
    raise AttributeError(name)


__all__ = [
    "VisualSettings",
    "VisualStage",
    "add_visual_args",
    "check_visual_settings",
    "settings_from_dict",
    "visual_stage_from_settings",
]
