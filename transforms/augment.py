"""The augment stage: keeps each sample and adds ``copies`` augmented ones (paper §III-A2, Fig. 2).

Per copy k (1..copies), everything is drawn from a generator seeded by (seed, sample key, k), so
a rerun gives byte-identical audio and JSON:

- which effects apply: ``noise`` whenever it is enabled (it is the paper's central augmentation
  and what the combined caption speaks of), every other enabled effect with probability
  ``apply_probability``, and at least one effect per copy;
- the noise: chosen from the bank by key (:meth:`NoiseBank.choose`), λ drawn in [0.01, 0.8]
  (λ is the noise's weight, see ``mix.py``), a random start in the noise;
- each effect's parameters (``effects.py``).

Effects are layered in a fixed order — pitch, gain, reverb (the voice and the room), noise (the
environment), mask, clip (the channel) — and recorded as ``Augmentation(name, params)`` with
every parameter needed to redo them. The copy's first caption is the combined
t̂ = f(p^t + t_i + t_j) (origin ``template``, ``text.py``); the original captions follow, and the
noise label joins the tags. A copy that fails becomes a ``Failure``; its original still goes on.

With the attributes stage on, the estimates a copy's effects made stale (its noise, room and
quality after noise, reverb, masks or clipping; its pitch after a pitch shift) are measured again
on the copy (:func:`transforms.attributes.stage.remeasure_copy`), so its attribute caption and
tags say what the copy sounds like, not what its original did.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from apache_beam.metrics import Metrics

from augment import effects
from augment.mix import NOISE_WEIGHT_RANGE, draw_noise_weight, mix_noise
from augment.noise import NoiseBank
from augment.text import combine_caption
from schemas import SAMPLE_RATE, Augmentation, Caption, Failure
from schemas.settings import setting
from transforms.attributes.stage import AttributesSettings, remeasure_copy
from transforms.noise_bank import NOISE_MAX_S, NOISE_SOURCES, NoiseBankLoader, NoiseDecoding, NoiseFileFailures
from transforms.stage import Sample, Stage, StageSpec

ORDER: tuple[str, ...] = ("pitch", "gain", "reverb", "noise", "mask", "clip")
AUGMENTATIONS: frozenset[str] = frozenset(ORDER)
DEFAULT_AUGMENTATIONS: tuple[str, ...] = ("noise", "reverb", "clip", "mask", "pitch", "gain")
CAPTION_LANGUAGE = "en"
"""The prefix templates are English; a quoted transcript stays in its own language."""


def parse_augmentations(spec: str | None) -> tuple[str, ...]:
    """``"noise,reverb"`` → ("noise", "reverb"); ``"all"`` → every one; ``""``/``"none"`` → ()."""
    if spec is None or spec.strip().lower() in ("", "none", "off"):
        return ()
    if spec.strip().lower() == "all":
        return DEFAULT_AUGMENTATIONS
    names = tuple(dict.fromkeys(n.strip().lower() for n in spec.split(",") if n.strip()))
    unknown = sorted(set(names) - AUGMENTATIONS)
    if unknown:
        raise ValueError(f"unknown augmentation(s) {unknown}; expected some of {sorted(AUGMENTATIONS)}")
    return names


@dataclass(frozen=True)
class AugmentSettings:
    """Augmentation (paper §III-A2): noise mixing, effects and combined captions on extra copies."""

    augmentations: tuple[str, ...] = setting(
        (),
        "comma-separated augmentations: noise,reverb,clip,mask,pitch,gain (or all / none)",
        shapes_output=True,
        flag="--augment",
        parse=lambda text: parse_augmentations(text),
        metavar="LIST",
    )
    copies: int = setting(
        1, "augmented copies per sample (originals always kept)", shapes_output=True, flag="--augment-copies"
    )
    seed: int | None = setting(None, "seed of every draw (default: --seed)", shapes_output=True, flag="--augment-seed")
    apply_probability: float = setting(
        0.5, "chance each non-noise effect joins a copy", shapes_output=True, flag="--augment-probability"
    )
    noise_source: str = setting(
        "generated", "where background sounds come from", shapes_output=True, choices=NOISE_SOURCES
    )
    noise_input: str | None = setting(
        None, "folder of labelled noise files (local, gs://, s3://) for --noise-source folder", shapes_output=True
    )
    noise_max_clips: int = setting(200, "at most this many noise clips held per worker", shapes_output=True)
    noise_max_s: float = setting(
        NOISE_MAX_S, "refuse noise files longer than this (s): a failure with its reason", shapes_output=True
    )
    noise_weight_range: tuple[float, float] = field(default=NOISE_WEIGHT_RANGE)
    """λ's range (``mix.py``); not a flag."""

    def __post_init__(self) -> None:
        unknown = set(self.augmentations) - AUGMENTATIONS
        if unknown:
            raise ValueError(f"unknown augmentation(s) {sorted(unknown)}")
        if self.copies < 0:
            raise ValueError("--augment-copies must be >= 0")
        if not 0.0 <= self.apply_probability <= 1.0:
            raise ValueError("--augment-probability must lie in [0, 1]")
        if self.noise_source == "folder" and not self.noise_input:
            raise ValueError("--noise-source folder needs --noise-input <folder of labelled noise files>")
        if not self.noise_max_s > 0:
            raise ValueError("--noise-max-s must be positive")

    @property
    def enabled(self) -> bool:
        return bool(self.augmentations) and self.copies > 0

    @property
    def takes_noise_files(self) -> bool:
        """Whether the bank is made of outside files (``--noise-source folder`` with noise mixing on)."""
        return self.enabled and "noise" in self.augmentations and self.noise_source == "folder"

    def noise_bank_loader(self, seed: int = 0, decode: Any = None) -> NoiseBankLoader:
        """The picklable loader of the bank these settings name (built in each worker's ``setup()``);
        ``decode``: the build's decode settings (the decode child's timeout and memory limit)."""
        decoding = NoiseDecoding(max_duration_s=self.noise_max_s)
        if decode is not None:
            decoding = NoiseDecoding(self.noise_max_s, decode.timeout_s, decode.memory_limit_mb)
        return NoiseBankLoader(self.noise_source, self.noise_input, self.noise_max_clips, seed, decoding)


def copy_rng(seed: int, key: str, copy_index: int) -> np.random.Generator:
    """The generator of one augmented copy: a pure function of (seed, sample key, copy index)."""
    digest = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
    return np.random.default_rng([seed, copy_index, digest])


class AugmentStage(Stage):
    """In-shard stage (``transforms/stage.py`` protocol) adding augmented copies of each sample."""

    name = "augment"

    def __init__(
        self,
        settings: AugmentSettings,
        noise_bank: NoiseBank | None = None,
        noise_bank_factory: Callable[[], NoiseBank] | None = None,
        sample_rate: int = SAMPLE_RATE,
        attributes: AttributesSettings | None = None,
    ) -> None:
        self.settings = settings
        self.attributes = attributes
        """The attributes stage's settings when it runs: a copy's stale estimates are taken again."""
        self.noise_bank = noise_bank
        self._noise_bank_factory = noise_bank_factory
        self._no_bank: str | None = None
        """Why the factory gave no bank (every noise file failed): noisy copies fail, originals go on."""
        self.sample_rate = sample_rate

    def setup(self) -> None:
        if self._no_bank is not None:
            return
        if self.noise_bank is None and self._noise_bank_factory is not None and self._needs_noise:
            try:
                self.noise_bank = self._noise_bank_factory()
            except ValueError as error:  # no usable noise file: each noisy copy fails with this reason
                self._no_bank = str(error)
                return
        if self._needs_noise and self.noise_bank is None:
            raise ValueError("the 'noise' augmentation needs a noise bank")

    @property
    def _needs_noise(self) -> bool:
        return self.settings.enabled and "noise" in self.settings.augmentations

    def process(self, samples: list[Sample]) -> tuple[list[Sample], list[Failure]]:
        if not self.settings.enabled:
            return list(samples), []
        self.setup()
        out: list[Sample] = []
        failures: list[Failure] = []
        for sample in samples:
            out.append(sample)
            for k in range(1, self.settings.copies + 1):
                try:
                    out.append(self.augment(sample, k))
                except Exception as error:  # any failure is a dead letter, never a crash
                    failures.append(sample.derive(augment_index=k).fail(self.name, "augment_error", repr(error)))
        return out, failures

    def augment(self, sample: Sample, copy_index: int) -> Sample:
        """The ``copy_index``-th augmented copy of ``sample``."""
        rng = copy_rng(self.settings.seed or 0, sample.key, copy_index)
        chosen = self._choose_effects(rng)
        audio = np.asarray(sample.audio, dtype=np.float32)
        applied: list[Augmentation] = []
        noise_label: str | None = None
        for name in chosen:
            if name == "noise":
                audio, params = self._mix(audio, sample.key, copy_index, rng)
                noise_label = params["noise_label"]
            else:
                params = effects.draw_params(name, rng, audio, self.sample_rate)
                audio = effects.apply_effect(name, audio, params, self.sample_rate)
            applied.append(Augmentation(name=name, params=params))
            Metrics.counter("stage", f"{self.name}/{name}").inc()
        caption = combine_caption(
            key=sample.key,
            transcript=sample.transcript,
            description=_description(sample),
            noise_label=noise_label,
            effects=[(a.name, a.params) for a in applied if a.name != "noise"],
        )
        tags = sample.tags + ([noise_label] if noise_label and noise_label not in sample.tags else [])
        copy = sample.derive(
            augment_index=copy_index,
            audio=audio,
            captions=[Caption(text=caption, language=CAPTION_LANGUAGE, origin="template"), *sample.captions],
            tags=tags,
            augmentations=[*sample.augmentations, *applied],
            original_data={**sample.original_data, "augmented_from": sample.key},
        )
        if self.attributes is not None:
            copy = remeasure_copy(copy, [a.name for a in applied], self.attributes)
        return copy

    def _choose_effects(self, rng: np.random.Generator) -> list[str]:
        enabled = [n for n in ORDER if n in self.settings.augmentations]
        chosen = [n for n in enabled if n == "noise" or rng.random() < self.settings.apply_probability]
        if not chosen:
            chosen = [enabled[int(rng.integers(0, len(enabled)))]]
        return chosen

    def _mix(
        self, audio: np.ndarray, key: str, copy_index: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, dict[str, Any]]:
        if self.noise_bank is None:
            raise RuntimeError(f"no noise bank: {self._no_bank}")
        index, label, noise = self.noise_bank.choose(key, salt=copy_index)
        weight = draw_noise_weight(rng, *self.settings.noise_weight_range)
        result = mix_noise(audio, noise, weight, noise_offset=int(rng.integers(0, noise.size)))
        params = {
            "noise_label": label,
            "noise_bank": self.noise_bank.name,
            "noise_index": index,
            "noise_weight_lambda": result.noise_weight,
            "snr_db": result.snr_db,
            "noise_offset_s": round(result.noise_offset / self.sample_rate, 4),
            "looped": result.looped,
            "peak_scale": result.peak_scale,
        }
        return result.audio, params


def _description(sample: Sample) -> str | None:
    """t_i for a sample without a transcript: its first non-transcript caption."""
    for caption in sample.captions:
        if caption.origin != "transcript":
            return caption.text
    return sample.captions[0].text if sample.captions else None


def build_augment(config: Any) -> AugmentStage | None:
    """The stage when augmentations are asked for; its seed defaults to the corpus seed."""
    settings: AugmentSettings = config.augment
    if not settings.enabled:
        return None
    seed = settings.seed if settings.seed is not None else config.corpus.seed
    settings = AugmentSettings(**{**settings.__dict__, "seed": seed})
    attributes = config.attributes if config.attributes.attributes else None
    return AugmentStage(
        settings, noise_bank_factory=settings.noise_bank_loader(seed, config.decode), attributes=attributes
    )


def noise_file_failures(root: Any, config: Any, storage_options: dict[str, Any] | None = None) -> list[Any]:
    """The failure records of the noise bank's outside files, as PCollections to add to the run's
    failures (none when the bank takes no files): a pipeline branch, :class:`NoiseFileFailures`."""
    settings: AugmentSettings = config.augment
    if not settings.takes_noise_files:
        return []
    seed = settings.seed if settings.seed is not None else config.corpus.seed
    loader = settings.noise_bank_loader(seed, config.decode)
    return [root | "NoiseFileFailures" >> NoiseFileFailures(loader, storage_options)]


SPEC = StageSpec(name="augment", settings=AugmentSettings, build=build_augment, order=40, writes=("augmented_from",))
