"""The segment flags as a Beam ``PipelineOptions`` view (import only where wanted: it registers globally)."""

from __future__ import annotations

from typing import Any

from apache_beam.options.pipeline_options import PipelineOptions

from transforms.segment.options import add_segment_args


class SegmentOptions(PipelineOptions):
    """``options.view_as(SegmentOptions)``: --max-seconds, --aligner, --whisper-model..."""

    @classmethod
    def _add_argparse_args(cls, parser: Any) -> None:
        add_segment_args(parser)
