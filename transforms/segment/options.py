"""Settings of the segment stage: a dataclass and its argparse flags.

The Beam ``PipelineOptions`` view lives in ``beam_options.py``, imported only on request:
``PipelineOptions`` subclasses register globally on import, and their flags are then
re-parsed by every SDK worker (see ``pipelines/options.py``).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, fields
from typing import Any

from transforms.segment.models import DEFAULT_MODEL

ALIGNERS = ("whisper", "mfa", "given", "auto")
ENGINES = ("faster", "openai")
NON_SPEECH = ("fail", "split")


@dataclass(frozen=True)
class SegmentSettings:
    """Everything the segment stage needs, as plain values (picklable, loggable)."""

    max_seconds: float = 10.0
    min_seconds: float = 1.0
    aligner: str = "auto"
    """whisper: ASR word timings; mfa: forced alignment when a transcript exists (Whisper
    otherwise and on failure); given: the item's own word timings (Whisper when absent);
    auto: given, else mfa when configured and a transcript exists, else whisper."""
    whisper_engine: str = "faster"
    whisper_model: str = DEFAULT_MODEL
    device: str = "cpu"
    compute_type: str = "auto"
    batch_size: int = 8
    batched: bool = True
    cpu_threads: int = 0
    transcribe_missing: bool = False
    mfa_dictionary: str | None = None
    mfa_acoustic_model: str | None = None
    mfa_binary: str | None = None
    mfa_num_jobs: int = 1
    mfa_phonemize_oov: bool = False
    non_speech: str = "fail"
    """Long items where no speech is found: fail (dead letter) or split by time, no transcript."""

    def __post_init__(self) -> None:
        if self.aligner not in ALIGNERS:
            raise ValueError(f"aligner must be one of {ALIGNERS}, not {self.aligner!r}")
        if self.whisper_engine not in ENGINES:
            raise ValueError(f"whisper engine must be one of {ENGINES}, not {self.whisper_engine!r}")
        if self.non_speech not in NON_SPEECH:
            raise ValueError(f"non_speech must be one of {NON_SPEECH}, not {self.non_speech!r}")
        if not 0 <= self.min_seconds < self.max_seconds:
            raise ValueError("need 0 <= min_seconds < max_seconds")


def add_segment_args(parser: argparse.ArgumentParser | Any) -> None:
    """Add the segment flags to an argparse parser (Beam's ``_add_argparse_args`` uses it too)."""
    group = (
        parser.add_argument_group("segmentation (paper §III-A1)") if hasattr(parser, "add_argument_group") else parser
    )
    add = group.add_argument
    add(
        "--max-seconds",
        "--max_seconds",
        dest="max_seconds",
        type=float,
        default=10.0,
        help="longest segment",
    )
    add(
        "--min-seconds",
        "--min_seconds",
        dest="min_seconds",
        type=float,
        default=1.0,
        help="shortest segment (soft)",
    )
    add(
        "--aligner",
        dest="aligner",
        choices=ALIGNERS,
        default="auto",
        help="word timings for cutting: auto (default) = the source's own timings when it has them, "
        "else MFA when --mfa-dictionary/--mfa-acoustic-model are given and a transcript exists, else Whisper",
    )
    add(
        "--whisper-engine",
        "--whisper_engine",
        dest="whisper_engine",
        choices=ENGINES,
        default="faster",
    )
    add(
        "--whisper-model",
        "--whisper_model",
        dest="whisper_model",
        default=DEFAULT_MODEL,
        help="faster-whisper name, local folder/checkpoint, bundled:base or bundled:tiny.en",
    )
    add(
        "--whisper-device",
        "--whisper_device",
        dest="whisper_device",
        default="cpu",
        help="cpu, cuda, cuda:1",
    )
    add(
        "--whisper-compute-type",
        "--whisper_compute_type",
        dest="whisper_compute_type",
        default="auto",
        help="CTranslate2 compute type; auto = int8 on CPU, float16 on CUDA",
    )
    add(
        "--whisper-batch-size",
        "--whisper_batch_size",
        dest="whisper_batch_size",
        type=int,
        default=8,
    )
    add(
        "--whisper-unbatched",
        "--whisper_unbatched",
        dest="whisper_unbatched",
        action="store_true",
        help="one clip at a time instead of BatchedInferencePipeline",
    )
    add(
        "--transcribe-missing",
        "--transcribe_missing",
        dest="transcribe_missing",
        action="store_true",
        help="transcribe items of at most --max-seconds that have no transcript",
    )
    add("--mfa-dictionary", "--mfa_dictionary", dest="mfa_dictionary", default=None)
    add(
        "--mfa-acoustic-model",
        "--mfa_acoustic_model",
        dest="mfa_acoustic_model",
        default=None,
    )
    add("--mfa-binary", "--mfa_binary", dest="mfa_binary", default=None)
    add(
        "--mfa-phonemize-oov",
        "--mfa_phonemize_oov",
        dest="mfa_phonemize_oov",
        action="store_true",
        help="pronounce words missing from the MFA dictionary with phonemizer/espeak-ng",
    )
    add(
        "--non-speech",
        "--non_speech",
        dest="non_speech",
        choices=NON_SPEECH,
        default="fail",
        help="long items without speech: dead letter, or split by time without transcript",
    )


def settings_from_options(options: Any) -> SegmentSettings:
    """Settings from a ``PipelineOptions`` (any view), an argparse ``Namespace`` or a flat dict.

    Only this stage's flag names are read (``max_seconds``, ``whisper_model``...), so a dict
    of every pipeline option can be passed as is.
    """
    if hasattr(options, "get_all_options"):
        from transforms.segment.beam_options import SegmentOptions

        everything = options.view_as(SegmentOptions).get_all_options()
    elif isinstance(options, dict):
        everything = options
    else:
        everything = vars(options)
    values = {name: everything[name] for name in _flag_dests() if name in everything}
    renamed = {
        "whisper_device": "device",
        "whisper_compute_type": "compute_type",
        "whisper_batch_size": "batch_size",
    }
    known = {f.name for f in fields(SegmentSettings)}
    kwargs = {}
    for name, value in values.items():
        target = renamed.get(name, name)
        if target in known and value is not None:
            kwargs[target] = value
    if values.get("whisper_unbatched"):
        kwargs["batched"] = False
    return SegmentSettings(**kwargs)


def _flag_dests() -> list[str]:
    parser = argparse.ArgumentParser(add_help=False)
    add_segment_args(parser)
    return [action.dest for action in parser._actions]


def check_settings(values: Any) -> SegmentSettings:
    """The settings, or one ``ValueError`` line saying why they can't work (before any work starts).

    With ``--aligner mfa`` this also checks that MFA runs here.
    """
    settings = settings_from_options(values)
    if settings.aligner == "mfa":
        from transforms.segment.mfa import MfaAligner, MfaUnavailableError

        try:
            MfaAligner(settings.mfa_dictionary, settings.mfa_acoustic_model, binary=settings.mfa_binary).setup()
        except MfaUnavailableError as exc:
            raise ValueError(str(exc)) from exc
    return settings
