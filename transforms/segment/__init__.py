"""Speech-aware segmentation (paper §III-A1, Fig. 1a): long audio cut into ≤ 10 s pieces between words.

``SegmentStage`` is the in-shard stage; ``cut`` the pure planner; ``whisper`` the Beam
``ModelHandler``s; ``mfa`` the Montreal Forced Aligner driver; ``options`` the settings/flags.
"""

from transforms.segment.options import SegmentSettings, add_segment_args, check_settings, settings_from_options
from transforms.segment.stage import SegmentStage

__all__ = ["SegmentSettings", "SegmentStage", "add_segment_args", "check_settings", "settings_from_options"]
