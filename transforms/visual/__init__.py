"""Visual cues for video items (paper Appendix B): frames -> SSIM scene starts -> CoCa -> fusion."""

from transforms.visual.options import VisualSettings, check_visual
from transforms.visual.stage import VisualStage, build_visual

__all__ = ["VisualSettings", "VisualStage", "build_visual", "check_visual"]
