"""How much language (or gender, emotion) a plain classifier hears in protocol v2's splits: the yardstick for the tower.

    python bench/language_baseline.py --protocol data/demo/protocol

Per clip: MFCC (20) and log-mel (40) at 16 kHz with the clip's mean removed per band (cepstral mean
normalisation, as ``tiny``'s ``input_norm=clip_mean``), summarised by their spread, their deltas'
spread and mean magnitude, and the covariance of MFCC 1..12 (296 numbers). A logistic regression
(standardised features, C 0.1) is fitted on the ``train`` split (augmented copies included, as the
trainer sees them) and scored on ``valid`` (dev) and ``test``, whose voices training never heard.
Nothing is chosen with it: it says whether the clips carry language in features this simple, so a
tower below it is failing to learn, not lacking evidence.

Measured 2026-12-06 on `model.demo`'s corpus (400 items per language, ten voices; 647 train clips
and their copies, 112 dev, 120 test; 47 s on the shared 2-core machine): dev 72.3 %, test 75.8 %
(chance 33.3, majority 35.8), train 90.0 %. The `tiny` recipe on the same splits: zero-shot
language 35.0 +- 5.8 % over 3 seeds, its embedding's MLP probe 45.8 % (docs/trainer-ablation.md).

``--tower``: the second yardstick. The recipe's own audio tower (front end and Perceiver of the
``--config`` preset, e.g. ``tiny``) with a linear layer on its pooled output, trained **supervised**
on the language label by cross-entropy (random ``data.max_audio_s`` crops of the train split and its
copies, batch 16, AdamW at the preset's learning rate, warm-up 100, cosine; ``--steps``), scored on
dev at every fifth of the run and on test at the step dev chose. It says what the tower can learn
of language from these clips when the loss asks for nothing else: a contrastive run far below it is
the loss's failure, not the tower's (docs/trainer-ablation.md, "Where language is lost").
Measured 2026-12-07 (``tiny``, 1,200 steps, 194 s of one core): dev 77.7 %, test 76.7 %, where the
contrastive ``tiny`` at batch 16 left a 45.8 % probe.

``--label gender|emotion``: both yardsticks on another clip label. Emotion is the third attribute of
the retrieval target's attribute-only baseline; on ``model.demo``'s corpus (seed 0) the logistic
regression names 41.1 % of dev and 40.8 % of test clips' emotion (majority 30.4 / 29.2), the supervised
tower 30.4 / 20.0 % (14 voices: 34.4 / 45.8 and 38.4 / 38.2 %): the demo's espeak-ng styles differ by
pitch range and volume only (speed and base pitch are drawn per item for the rate and pitch levels),
and ``tiny``'s per-clip mean normalisation removes the volume (docs/trainer-ablation.md, "What the retrieval target asks").

``--whisper bundled:base``: the regression also reads the mean and spread of a frozen Whisper encoder's
frames (``model.whisper_frames``), ``--tower`` runs with ``model.audio.whisper``. On ``model.demo``'s
corpus (2026-12-07, 100 s): language dev 89.3 %, test 88.3 % (MFCC statistics alone 72.3 / 75.8), gender
dev 86.6 / test 96.7 % (docs/trainer-ablation.md, "A frozen Whisper encoder beside the log-mel").
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def features(audio: np.ndarray, sample_rate: int = 48_000) -> np.ndarray:
    """The clip's 296 summary statistics (module docstring)."""
    import librosa
    import soxr

    y = soxr.resample(audio.astype(np.float32), sample_rate, 16_000)
    mfcc = librosa.feature.mfcc(y=y, sr=16_000, n_mfcc=20, n_fft=512, hop_length=160)
    mfcc = mfcc - mfcc.mean(axis=1, keepdims=True)
    delta = librosa.feature.delta(mfcc)
    mel = np.log(librosa.feature.melspectrogram(y=y, sr=16_000, n_fft=512, hop_length=160, n_mels=40) + 1e-6)
    mel = mel - mel.mean(axis=1, keepdims=True)
    return np.concatenate(
        [mfcc.std(1), delta.std(1), np.abs(delta).mean(1), mel.std(1), np.abs(np.diff(mel, axis=1)).mean(1),
         np.cov(mfcc[1:13]).ravel()]
    )  # fmt: skip


def training_voices(protocol: Path, per_group: int | None) -> set[str] | None:
    """The first ``per_group`` training voices (sorted) of each (language, gender); None: all of them."""
    from model.evalset import iter_metas

    if per_group is None:
        return None
    groups: dict[tuple[str, str], set[str]] = {}
    for meta in iter_metas([str(protocol)], "train"):
        key = (str(meta.original_data.get("language")), str(meta.original_data.get("gender")))
        groups.setdefault(key, set()).add(str(meta.original_data.get("speaker_id")))
    return {voice for voices in groups.values() for voice in sorted(voices)[:per_group]}


def kept(meta, voices: set[str] | None) -> bool:
    return voices is None or str(meta.original_data.get("speaker_id")) in voices


LABELS: tuple[str, ...] = ("language", "gender", "emotion")
"""The clip labels the yardsticks can be trained on (``--label``; the sample record's field)."""


def whisper_features(audio: np.ndarray, whisper) -> np.ndarray:
    """Mean and spread over the clip of a frozen Whisper encoder's last-layer frames (``--whisper``)."""
    frames = whisper.frames(np.asarray(audio, dtype=np.float32), "cpu").astype(np.float32)
    return np.concatenate([frames.mean(0), frames.std(0)])


def load(
    protocol: Path,
    split: str,
    augmented: bool,
    voices: set[str] | None = None,
    label: str = "language",
    whisper: str = "",
) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """The split's features (with ``whisper``: the pooled Whisper frames beside them), ``label``
    values and clip lengths (s)."""
    from model.evalset import iter_samples

    encoder = None
    if whisper:
        from model.whisper_frames import WhisperFrames

        encoder = WhisperFrames(whisper, 0, 48_000, 512, cache_size=0)
    rows, labels, seconds = [], [], []
    for _, audio, meta in iter_samples([str(protocol)], split, include_augmented=augmented):
        if not kept(meta, voices):
            continue
        row = features(audio)
        rows.append(row if encoder is None else np.concatenate([row, whisper_features(audio, encoder)]))
        labels.append(str(meta.original_data.get(label)))
        seconds.append(len(audio) / 48_000)
    return np.array(rows), np.array(labels), seconds


def clips(
    protocol: Path, split: str, augmented: bool, voices: set[str] | None = None, label: str = "language"
) -> tuple[list[np.ndarray], list[str]]:
    """The split's 48 kHz int16 clips and ``label`` values."""
    from model.evalset import iter_samples

    audio, labels = [], []
    for _, clip, meta in iter_samples([str(protocol)], split, include_augmented=augmented):
        if not kept(meta, voices):
            continue
        audio.append(np.clip(np.round(clip * 32768.0), -32768, 32767).astype(np.int16))  # as the shards hold it
        labels.append(str(meta.original_data.get(label)))
    return audio, labels


def tower(
    protocol: Path,
    config_name: str,
    steps: int,
    seed: int,
    voices: set[str] | None = None,
    label: str = "language",
    whisper: str = "",
) -> dict[str, float]:
    """Train the preset's audio tower + a linear layer on ``label`` (module docstring); dev curve and test."""
    import math
    import random
    import time

    import torch
    import torch.nn.functional as F

    from model.audio import LogMel
    from model.config import load_config
    from model.encoders import build_audio_encoder

    config = load_config(config_name)
    if whisper:
        config.model.audio.whisper = whisper
    torch.manual_seed(seed)
    rng = random.Random(seed)
    train_audio, train_labels = clips(protocol, "train", augmented=True, voices=voices, label=label)
    names = sorted(set(train_labels))
    splits = {split: clips(protocol, split, augmented=False, label=label) for split in ("valid", "test")}
    frontend, encoder = LogMel(config.model.audio), build_audio_encoder(config.model.audio)
    head = torch.nn.Linear(encoder.out_dim, len(names))
    params = [*encoder.parameters(), *head.parameters()]
    optimiser = torch.optim.AdamW(params, lr=config.optim.lr, weight_decay=config.optim.weight_decay)
    most = int(config.data.max_audio_s * config.model.audio.sample_rate)

    def batch(audio: list[np.ndarray], train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        crops = []
        for clip in audio:
            spare = len(clip) - most
            start = (rng.randint(0, spare) if train else spare // 2) if spare > 0 else 0
            crops.append(clip[start : start + most])
        waves = torch.zeros(len(crops), max(len(c) for c in crops), dtype=torch.int16)
        for i, crop in enumerate(crops):
            waves[i, : len(crop)] = torch.from_numpy(crop)
        return waves, torch.tensor([len(c) for c in crops])

    @torch.no_grad()
    def correct(split: str) -> list[bool]:
        frontend.eval(), encoder.eval()
        audio, labels = splits[split]
        right = []
        for i in range(0, len(audio), 32):
            guess = head(encoder(*frontend.encoder_inputs(*batch(audio[i : i + 32], train=False)))).argmax(-1).tolist()
            right += [names[g] == label for g, label in zip(guess, labels[i : i + 32])]
        frontend.train(), encoder.train()
        return right

    def accuracy(split: str) -> float:
        return 100.0 * float(np.mean(correct(split)))

    started, curve, states = time.perf_counter(), {}, {}
    for step in range(1, steps + 1):
        scale = min(1.0, step / 100) * 0.5 * (1 + math.cos(math.pi * step / steps))
        for group in optimiser.param_groups:
            group["lr"] = config.optim.lr * scale
        chosen = rng.sample(range(len(train_audio)), 16)
        inputs = frontend.encoder_inputs(*batch([train_audio[i] for i in chosen], train=True))
        target = torch.tensor([names.index(train_labels[i]) for i in chosen])
        loss = F.cross_entropy(head(encoder(*inputs)), target)
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, config.optim.grad_clip)
        optimiser.step()
        if step % max(1, steps // 5) == 0 or step == steps:
            curve[step] = accuracy("valid")
            states[step] = ({k: v.clone() for k, v in encoder.state_dict().items()}, head.state_dict())
            print(
                f"step {step:5d}  loss {loss.item():.3f}  dev {curve[step]:5.1f} %  ({time.perf_counter() - started:.0f} s)"
            )
    best = max(curve, key=lambda s: (curve[s], s))
    encoder.load_state_dict(states[best][0])
    head.load_state_dict(states[best][1])
    test_right = correct("test")
    seconds = [len(clip) / config.model.audio.sample_rate for clip in splits["test"][0]]
    return {"chosen_step": best, "dev": curve[best], "test": 100.0 * float(np.mean(test_right)),
            "test_by_length": by_length(test_right, seconds)}  # fmt: skip


LENGTHS_S = (3.0, 6.0)
"""Clip-length bins of the per-length accuracy: under 3 s, 3..6 s, 6 s and more."""


def by_length(right: list[bool], seconds: list[float]) -> dict[str, str]:
    """Accuracy per clip-length bin, as 'percent (clips)'."""
    edges = (0.0, *LENGTHS_S, float("inf"))
    found = {}
    for low, high in zip(edges, edges[1:]):
        hits = [r for r, s in zip(right, seconds) if low <= s < high]
        name = f"{low:g}-{high:g} s" if high != float("inf") else f">= {low:g} s"
        found[name] = f"{100.0 * np.mean(hits):.1f} % ({len(hits)})" if hits else "- (0)"
    return found


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--protocol", type=Path, required=True, help="protocol v2 shards (model.demo's <out>/protocol)")
    p.add_argument(
        "--label",
        choices=LABELS,
        default="language",
        help="the clip label both yardsticks learn (emotion: how much of the attribute-only retrieval "
        "baseline's knowledge the clips carry)",
    )
    p.add_argument("--tower", action="store_true", help="also train the recipe's audio tower supervised on --label")
    p.add_argument("--config", default="tiny", help="preset whose audio tower --tower trains")
    p.add_argument("--steps", type=int, default=1200, help="--tower's training steps (batch 16)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--whisper",
        default="",
        metavar="MODEL",
        help="a frozen Whisper encoder (model.whisper_frames; e.g. bundled:base): the regression also reads "
        "the mean and spread of its frames, --tower runs with model.audio.whisper=MODEL",
    )
    p.add_argument(
        "--train-voices",
        type=int,
        default=None,
        help="train on only the first N training voices (sorted) of each (language, gender): how accuracy "
        "grows with the number of voices (dev and test unchanged)",
    )
    args = p.parse_args(argv)
    if args.train_voices is not None and args.train_voices < 1:
        p.error("--train-voices must be 1 or more")
    voices = training_voices(args.protocol, args.train_voices)
    if voices is not None:
        print(f"training voices ({args.train_voices} per language and gender): {', '.join(sorted(voices))}")
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x_train, y_train, _ = load(
        args.protocol, "train", augmented=True, voices=voices, label=args.label, whisper=args.whisper
    )
    if len(set(y_train)) < 2:
        print(
            f"language_baseline: error: the train split of {args.protocol} has fewer than two {args.label} values",
            file=sys.stderr,
        )
        return 2
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, C=0.1)).fit(x_train, y_train)
    for split in ("valid", "test"):
        x, y, seconds = load(args.protocol, split, augmented=False, label=args.label, whisper=args.whisper)
        majority = max(np.mean(y == label) for label in set(y))
        right = model.predict(x) == y
        print(
            f"{split:5s} {len(y):4d} clips  {args.label} accuracy {100 * np.mean(right):5.1f} %"
            f"  (chance {100 / len(set(y)):.1f}, majority {100 * majority:.1f})"
            f"  by length: {by_length(list(right), seconds)}"
        )
    print(
        f"train {len(y_train):4d} clips  {args.label} accuracy {100 * np.mean(model.predict(x_train) == y_train):5.1f} %"
    )
    if args.tower:
        result = tower(args.protocol, args.config, args.steps, args.seed, voices, args.label, args.whisper)
        print(
            f"{args.config} tower, supervised on {args.label}: dev {result['dev']:.1f} % at step "
            f"{result['chosen_step']} (chosen on dev), test {result['test']:.1f} %; test by length: "
            f"{result['test_by_length']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
