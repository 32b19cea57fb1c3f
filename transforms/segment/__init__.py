"""Speech-aware segmentation (paper §III-A1, Fig. 1a): long audio cut into ≤ 10 s pieces between words.

``SegmentStage`` is the in-shard stage; ``cut`` the pure planner; ``whisper`` the Beam
``ModelHandler``s; ``mfa`` the Montreal Forced Aligner driver; ``options`` the settings.
"""

from transforms.segment.options import SegmentSettings
from transforms.segment.stage import SegmentStage

__all__ = ["SegmentSettings", "SegmentStage"]
