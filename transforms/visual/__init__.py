"""Visual cues for video items (paper Appendix B): frames -> SSIM scene starts -> CoCa -> fusion."""

from transforms.visual.options import VisualSettings, add_visual_args, check_visual_settings, settings_from_dict
from transforms.visual.stage import VisualStage, visual_stage_from_settings

__all__ = [
    "VisualSettings",
    "VisualStage",
    "add_visual_args",
    "check_visual_settings",
    "settings_from_dict",
    "visual_stage_from_settings",
]
