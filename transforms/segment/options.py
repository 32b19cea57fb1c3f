"""Settings of the segment stage (paper §III-A1): one frozen dataclass; its flags are generated.

Flags, YAML and ``--set segment.<field>=...`` all come from these fields (``schemas/settings.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.settings import setting
from transforms.segment.models import DEFAULT_MODEL

ALIGNERS = ("whisper", "mfa", "given", "auto")
ENGINES = ("faster", "openai")
NON_SPEECH = ("fail", "split")
OVERLAPPED = ("flag", "drop")
SPEAKER_MODELS = ("resemblyzer", "pyannote", "speechbrain")


@dataclass(frozen=True)
class SegmentSettings:
    """Speech-aware segmentation (paper §III-A1): long items cut between words."""

    max_segment_s: float = setting(10.0, "longest segment (s)", shapes_output=True)
    min_segment_s: float = setting(1.0, "shortest segment (s, soft)", shapes_output=True)
    aligner: str = setting(
        "auto",
        "word timings for cutting: auto = the source's own timings when it has them, else MFA when "
        "--mfa-dictionary/--mfa-acoustic-model are given and a transcript exists, else Whisper; "
        "mfa = forced alignment (Whisper otherwise and on failure); given = the item's own timings",
        shapes_output=True,
        choices=ALIGNERS,
    )
    whisper_engine: str = setting("faster", "Whisper implementation", shapes_output=True, choices=ENGINES)
    whisper_model: str = setting(
        DEFAULT_MODEL,
        "faster-whisper name, local folder/checkpoint, bundled:base or bundled:tiny.en",
        shapes_output=True,
    )
    whisper_device: str = setting("cpu", "cpu, cuda, cuda:1", shapes_output=False)
    whisper_compute_type: str = setting(
        "auto", "CTranslate2 compute type; auto = int8 on CPU, float16 on CUDA", shapes_output=True
    )
    whisper_batch_size: int = setting(8, "clips per batched Whisper call", shapes_output=False)
    whisper_beam_size: int = setting(
        5,
        "Whisper's beam width (faster-whisper's own default; 1: greedy, a little faster on CPU but 5 to 7 "
        "points more WER on German web clips, bench/segment.py web)",
        shapes_output=True,
    )
    whisper_share_windows: bool = setting(
        False,
        "batched Whisper: clips much shorter than 30 s share one 30-s window, half a second of silence apart "
        "(two 10-s clips cost one encoding instead of two; each clip's words are checked alone; "
        "bench/segment.py web: 10-s WER 41.9 against 43.8 %%, CPU 1.02x). Off by default: a clip's words then "
        "depend on which clips its batch holds (--batch-items, --workers), not on the clip alone",
        shapes_output=True,
    )
    whisper_unbatched: bool = setting(
        False, "one clip at a time instead of BatchedInferencePipeline", shapes_output=False
    )
    whisper_cpu_threads: int = setting(0, "CTranslate2 CPU threads per worker (0: its default)", shapes_output=False)
    transcribe_missing: bool = setting(
        False, "transcribe items of at most --max-segment-s that have no transcript", shapes_output=True
    )
    mfa_dictionary: str | None = setting(None, "Montreal Forced Aligner pronunciation dictionary", shapes_output=True)
    mfa_acoustic_model: str | None = setting(None, "MFA acoustic model", shapes_output=True)
    mfa_binary: str | None = setting(None, "the mfa executable (default: on PATH)", shapes_output=False)
    mfa_num_jobs: int = setting(1, "MFA parallel jobs", shapes_output=False)
    mfa_phonemize_oov: bool = setting(
        False, "pronounce words missing from the MFA dictionary with phonemizer/espeak-ng", shapes_output=True
    )
    non_speech: str = setting(
        "fail",
        "long items where no speech is found: fail (dead letter) or split by time without transcript",
        shapes_output=True,
        choices=NON_SPEECH,
    )
    diarize: bool = setting(
        False,
        "who speaks when (transforms/diarize): items of at least --diarize-min-s are diarized and their cut "
        "never crosses a change of speaker; each sample gets its speaker, turn and the number of speakers",
        shapes_output=True,
    )
    diarize_min_s: float = setting(
        30.0, "with --diarize: diarize items at least this long (0: every item the stage cuts)", shapes_output=True
    )
    num_speakers: int | None = setting(None, "with --diarize: the number of speakers, when known", shapes_output=True)
    max_speakers: int | None = setting(None, "with --diarize: at most this many speakers", shapes_output=True)
    diarize_model: str = setting(
        "resemblyzer",
        "speaker embeddings: resemblyzer (weights from PyPI), pyannote or speechbrain (need --diarize-weights)",
        shapes_output=True,
        choices=SPEAKER_MODELS,
    )
    diarize_weights: str | None = setting(
        None, "local weights of the speaker embedding model (a checkpoint file or folder)", shapes_output=True
    )
    diarize_threshold: float = setting(
        0.15, "cosine distance at which two clusters of speech are different speakers", shapes_output=True
    )
    overlapped_speech: str = setting(
        "flag",
        "segments with overlapped speech (two voices at once): flag them in original_data.diarization or drop them",
        shapes_output=True,
        choices=OVERLAPPED,
    )
    gender_min_confidence: float = setting(
        0.9,
        "a speaker's estimated gender enters captions at or above this confidence (the dataset's label always wins)",
        shapes_output=True,
    )

    def __post_init__(self) -> None:
        if self.aligner not in ALIGNERS:
            raise ValueError(f"--aligner must be one of {ALIGNERS}, not {self.aligner!r}")
        if self.whisper_engine not in ENGINES:
            raise ValueError(f"--whisper-engine must be one of {ENGINES}, not {self.whisper_engine!r}")
        if self.non_speech not in NON_SPEECH:
            raise ValueError(f"--non-speech must be one of {NON_SPEECH}, not {self.non_speech!r}")
        if self.overlapped_speech not in OVERLAPPED:
            raise ValueError(f"--overlapped-speech must be one of {OVERLAPPED}, not {self.overlapped_speech!r}")
        if self.diarize_model not in SPEAKER_MODELS:
            raise ValueError(f"--diarize-model must be one of {SPEAKER_MODELS}, not {self.diarize_model!r}")
        if self.diarize_model != "resemblyzer" and not self.diarize_weights:
            raise ValueError(f"--diarize-model {self.diarize_model} needs --diarize-weights (nothing is downloaded)")
        for name in ("num_speakers", "max_speakers"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1")
        if not 0 <= self.gender_min_confidence <= 1:
            raise ValueError("--gender-min-confidence must be within 0..1")
        if not 0 < self.diarize_threshold < 2:
            raise ValueError("--diarize-threshold must be within 0..2 (a cosine distance)")
        if self.whisper_beam_size < 1:
            raise ValueError("--whisper-beam-size must be at least 1")
        if not 0 <= self.min_segment_s < self.max_segment_s:
            raise ValueError("need 0 <= --min-segment-s < --max-segment-s")
