"""Why language ID fails on unseen voices: what the input carries, and what the audio tower can learn.

    python -m model.lang_ablation --protocol data/demo-new/protocol --out data/lang-abl

On the honest protocol (:mod:`model.protocol`: test = held-out voices *and* sentences),
everything here is measured on the **test** split, trained on the **train** split (augmented
copies included, as the trainer sees them); hyper-parameters are picked on the *valid* clips of
**seen** voices only, so no held-out voice guides any choice.

1. *Input baselines* (no deep model): linear classifiers on fixed features of the first 5 s of
   the model's own log-mel (80 bands, 10.7 ms hop):
   - ``mel mean+std``: per-band mean and standard deviation over the clip;
   - ``mfcc+Δ stats``: 20 MFCCs (DCT of the log-mel) with deltas and delta-deltas, mean+std;
   - ``bag of frames``: per-clip mean-normalised log-mel frames, ±2 frames of context, coded
     against a 128-word k-means codebook learned on training frames; the clip's code histogram
     (a phone-inventory proxy that ignores the voice's average spectrum);
2. *Supervised ceiling*: the ``tiny`` preset's Perceiver audio tower trained **directly** on the
   language label (cross-entropy, same crop and optimiser as the trainer), evaluated on the test
   voices. What the contrastive recipe can at best get from the tower, per variant: frame rate of
   the stem, crop length, number of training voices, and voice jitter (a random warp of the mel
   axis, ±20 %, like vocal-tract-length perturbation, and a random time stretch, ±20 %).

3. *Batch mix*: the share of training batches that hold every language.
4. ``--probe CHECKPOINT ...``: logistic regression on trained models' audio embeddings.

Writes ``<out>/lang_ablation.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from model.audio import LogMel
from model.config import AudioConfig, load_config
from model.encoders import PerceiverAudioEncoder
from model.evalset import iter_samples

LABELS = ("language", "gender", "emotion")
CLIP_S = 5.0


def extract(protocol: str, cache: Path) -> dict[str, Any]:
    """Log-mel (first 5 s) and labels of every clip of each split; cached as one ``.npz``."""
    if cache.exists():
        data = np.load(cache, allow_pickle=True)
        return {key: data[key].item() for key in data.files}
    config = AudioConfig()
    mel = LogMel(config)
    out: dict[str, Any] = {}
    for split in ("train", "valid", "test"):
        rows: dict[str, list] = {"mel": [], "speaker": [], **{label: [] for label in LABELS}}
        for _, wave, meta in iter_samples([protocol], split, include_augmented=split == "train"):
            clip = torch.from_numpy(wave[: int(config.sample_rate * CLIP_S)])[None]
            rows["mel"].append(mel(clip)[0][0].numpy().astype(np.float16))
            rows["speaker"].append(str(meta.original_data.get("speaker_id")))
            for label in LABELS:
                rows[label].append(str(meta.original_data.get(label)))
        out[split] = rows
    np.savez(cache, **{split: np.array(rows, dtype=object) for split, rows in out.items()})
    return out


def held_out_speakers(data: dict[str, Any]) -> set[str]:
    return set(data["test"]["speaker"])


def _mfcc(mel: np.ndarray, n: int = 20) -> np.ndarray:
    from scipy.fft import dct

    return dct(mel.astype(np.float32), type=2, norm="ortho", axis=1)[:, :n]


def _deltas(x: np.ndarray) -> np.ndarray:
    padded = np.pad(x, ((1, 1), (0, 0)), mode="edge")
    return (padded[2:] - padded[:-2]) / 2


def _context(x: np.ndarray, k: int) -> np.ndarray:
    padded = np.pad(x, ((k, k), (0, 0)), mode="edge")
    return np.concatenate([padded[i : i + len(x)] for i in range(2 * k + 1)], axis=1)


def _cmn(mel: np.ndarray) -> np.ndarray:
    mel = mel.astype(np.float32)
    return mel - mel.mean(0, keepdims=True)


def _logistic(train_x, train_y, valid_x, valid_y, test_x, test_y) -> tuple[float, float]:
    """Standardised logistic regression, C picked on the (seen-voice) valid clips; test accuracy %."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(train_x)
    best = (-1.0, 1.0)
    for c in (0.01, 0.1, 1.0, 10.0):
        clf = LogisticRegression(C=c, max_iter=2000).fit(scaler.transform(train_x), train_y)
        best = max(best, (clf.score(scaler.transform(valid_x), valid_y), c))
    clf = LogisticRegression(C=best[1], max_iter=2000).fit(scaler.transform(train_x), train_y)
    return 100 * clf.score(scaler.transform(test_x), test_y), best[1]


def input_baselines(data: dict[str, Any], seed: int = 0) -> list[dict[str, Any]]:
    """The three fixed-feature classifiers of the module docstring, per label."""
    from sklearn.cluster import MiniBatchKMeans

    held = held_out_speakers(data)
    valid_seen = [i for i, s in enumerate(data["valid"]["speaker"]) if s not in held]
    splits = {
        "train": data["train"],
        "valid": {k: [v[i] for i in valid_seen] for k, v in data["valid"].items()},
        "test": data["test"],
    }

    def stats(x: np.ndarray) -> np.ndarray:
        return np.concatenate([x.mean(0), x.std(0)])

    def mfcc_stats(mel: np.ndarray) -> np.ndarray:
        m = _mfcc(mel)
        d = _deltas(m)
        return np.concatenate([stats(m), stats(d), stats(_deltas(d))])

    features: dict[str, dict[str, np.ndarray]] = {"mel mean+std": {}, "mfcc+Δ stats": {}, "bag of frames": {}}
    for split, rows in splits.items():
        features["mel mean+std"][split] = np.stack([stats(m.astype(np.float32)) for m in rows["mel"]])
        features["mfcc+Δ stats"][split] = np.stack([mfcc_stats(m) for m in rows["mel"]])
    rng = np.random.default_rng(seed)
    frames = np.concatenate([_context(_cmn(m), 2)[rng.choice(len(m), 40)] for m in splits["train"]["mel"]])
    kmeans = MiniBatchKMeans(128, random_state=seed, n_init=3, batch_size=2048).fit(frames)
    for split, rows in splits.items():
        hist = [np.bincount(kmeans.predict(_context(_cmn(m), 2)), minlength=128) / len(m) for m in rows["mel"]]
        features["bag of frames"][split] = np.sqrt(np.stack(hist))  # Hellinger

    results = []
    for name, feats in features.items():
        row: dict[str, Any] = {"features": name}
        for label in LABELS:
            ys = {split: np.array(rows[label]) for split, rows in splits.items()}
            row[label], row[f"{label}/C"] = _logistic(
                feats["train"], ys["train"], feats["valid"], ys["valid"], feats["test"], ys["test"]
            )
        results.append(row)
        print(f"  {name}: " + ", ".join(f"{label} {row[label]:.1f}" for label in LABELS), flush=True)

    return results


# -- supervised ceiling -------------------------------------------------------------------------


def warp(mel: torch.Tensor, freq: float, time_: float) -> torch.Tensor:
    """Stretch the mel axis by ``freq`` (formants up when > 1) and the time axis by ``time_``."""
    frames, bands = mel.shape
    x = mel.T[None, None].float()  # [1, 1, bands, frames]
    size = (bands, max(8, int(round(frames * time_))))
    x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)[0, 0].T  # [frames', bands]
    source = torch.arange(bands, dtype=torch.float32) / freq
    lo = source.floor().clamp(0, bands - 1).long()
    hi = (lo + 1).clamp(max=bands - 1)
    w = (source - lo).clamp(0, 1)
    out = x[:, lo] * (1 - w) + x[:, hi] * w
    return torch.where(source < bands - 1, out, x[:, -1:].expand_as(out))


class Tower(nn.Module):
    def __init__(self, audio: AudioConfig, classes: int) -> None:
        super().__init__()
        self.encoder = PerceiverAudioEncoder(audio)
        self.head = nn.Linear(self.encoder.out_dim, classes)

    def forward(self, mel: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(mel, mask))


def _batch(mels: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    longest = max(m.shape[0] for m in mels)
    x = torch.zeros(len(mels), longest, mels[0].shape[1])
    mask = torch.zeros(len(mels), longest, dtype=torch.bool)
    for i, m in enumerate(mels):
        x[i, : len(m)], mask[i, : len(m)] = m, True
    return x, mask


def supervised(
    data: dict[str, Any],
    label: str = "language",
    steps: int = 400,
    crop_s: float = CLIP_S,
    stem_layers: int | None = None,
    jitter: float = 0.0,
    cmn: bool | str = False,
    voices: int | None = None,
    seed: int = 0,
    batch_size: int = 16,
) -> dict[str, Any]:
    """Train the ``tiny`` audio tower on ``label`` alone; test accuracy on the held-out voices."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    audio = load_config("tiny").model.audio
    if stem_layers is not None:
        audio = replace(audio, stem_layers=stem_layers)
    train = data["train"]
    keep = list(range(len(train["mel"])))
    if voices is not None:  # the first `voices` training variants of each language (sorted ids)
        by_lang: dict[str, list[str]] = {}
        for s, lang in sorted(set(zip(train["speaker"], train["language"]))):
            by_lang.setdefault(lang, []).append(s)
        chosen = {s for speakers in by_lang.values() for s in _spread(speakers, voices)}
        keep = [i for i in keep if train["speaker"][i] in chosen]
    classes = sorted(set(train[label]))
    index = {c: i for i, c in enumerate(classes)}
    if cmn == "plus":  # the normalised frames and, beside them, the clip's mean (its voice and loudness)
        audio = replace(audio, n_mels=2 * audio.n_mels)

    def prepare(m: torch.Tensor) -> torch.Tensor:
        if not cmn:
            return m
        mean = m.mean(0, keepdim=True)
        return torch.cat([m - mean, mean.expand_as(m)], 1) if cmn == "plus" else m - mean

    mels = [prepare(torch.from_numpy(train["mel"][i].astype(np.float32))) for i in keep]
    ys = torch.tensor([index[train[label][i]] for i in keep])
    model = Tower(audio, len(classes))
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=0.01)
    crop = int(crop_s * audio.sample_rate / audio.hop_length)
    started = time.process_time()
    model.train()
    for step in range(steps):
        lr = 5e-4 * min(1.0, (step + 1) / 50) * 0.5 * (1 + math.cos(math.pi * step / steps))
        for group in optimizer.param_groups:
            group["lr"] = lr
        picks = rng.choice(len(mels), batch_size, replace=False)
        batch = []
        for i in picks:
            m = mels[i]
            if jitter > 0:
                m = warp(m, float(rng.uniform(1 - jitter, 1 + jitter)), float(rng.uniform(1 - jitter, 1 + jitter)))
            if len(m) > crop:
                start = int(rng.integers(0, len(m) - crop + 1))
                m = m[start : start + crop]
            batch.append(m)
        x, mask = _batch(batch)
        loss = F.cross_entropy(model(x, mask), ys[torch.as_tensor(picks)])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    test = data["test"]
    hits = 0
    with torch.no_grad():
        for start in range(0, len(test["mel"]), 32):
            chunk = [prepare(torch.from_numpy(m.astype(np.float32))[:crop]) for m in test["mel"][start : start + 32]]
            pred = model(*_batch(chunk)).argmax(-1)
            hits += sum(classes[int(p)] == y for p, y in zip(pred, test[label][start : start + 32]))
    return {
        "accuracy": 100 * hits / len(test["mel"]),
        "train_clips": len(mels),
        "cpu_s": round(time.process_time() - started, 1),
    }


def _spread(speakers: list[str], n: int) -> list[str]:
    """``n`` voices, alternating genders (``…-f*`` / ``…-m*``) so both stay represented."""
    female = [s for s in speakers if s.rsplit("-", 1)[-1].startswith("f")]
    male = [s for s in speakers if s not in female]
    out = []
    while len(out) < n and (female or male):
        for group in (female, male):
            if group and len(out) < n:
                out.append(group.pop(0))
    return out


def batch_mix(protocol: str, config: str = "tiny", epochs: int = 3, seed: int = 0) -> list[dict[str, float]]:
    """How many training batches hold every language (the loader's shard shuffle and shuffle buffer,
    read without decoding audio): is language a negative the contrastive loss sees?"""
    from model.data import ShardStream
    from model.shards import resolve_shards

    data = load_config(config).data
    stream = ShardStream(
        resolve_shards([protocol], "train").urls, data, None, train=True, seed=seed, rank=0, world_size=1
    )
    rows = []
    for epoch in range(epochs):
        langs = [json.loads(raw["json"])["original_data"]["language"] for _, raw in stream._epoch_samples(epoch, 0)]
        batches = [langs[i : i + data.batch_size] for i in range(0, len(langs) - data.batch_size + 1, data.batch_size)]
        every = len(set(langs))
        rows.append(
            {
                "epoch": epoch,
                "batches": len(batches),
                "all_languages_share": float(np.mean([len(set(b)) == every for b in batches])),
                "top_language_per_batch": float(np.mean([max(b.count(x) for x in set(b)) for b in batches])),
            }
        )
    return rows


def embedding_probe(checkpoint: str, protocol: str) -> dict[str, float]:
    """Logistic regression on a trained model's audio embeddings, train split → test split (%)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from model.api import ClaraModel
    from model.evalset import load_eval_set

    model = ClaraModel.from_checkpoint(checkpoint, device="cpu")
    train, test = load_eval_set(model, [protocol], "train"), load_eval_set(model, [protocol], "test")
    scaler = StandardScaler().fit(train.embeddings.numpy())
    out = {}
    for label in LABELS:
        clf = LogisticRegression(C=0.1, max_iter=3000).fit(
            scaler.transform(train.embeddings.numpy()), [o[label] for o in train.original]
        )
        out[label] = 100 * clf.score(scaler.transform(test.embeddings.numpy()), [o[label] for o in test.original])
    return out


SUPERVISED_VARIANTS: dict[str, dict[str, Any]] = {
    "tiny tower (stem ÷2, 5 s crops)": {},
    "per-clip mean normalisation of the log-mel (CMN)": {"cmn": True},
    "CMN, the clip mean given beside it (2 × 80 input channels)": {"cmn": "plus"},
    "voice jitter ±20 % (mel-axis warp + time stretch)": {"jitter": 0.2},
    "CMN + voice jitter": {"cmn": True, "jitter": 0.2},
    "stem at full frame rate (1 conv layer)": {"stem_layers": 1},
    "2 s crops": {"crop_s": 2.0},
    "2 training voices per language (1 f + 1 m)": {"voices": 2},
    "2 voices + CMN": {"voices": 2, "cmn": True},
    "emotion: tiny tower": {"label": "emotion"},
    "emotion: CMN": {"label": "emotion", "cmn": True},
    "emotion: CMN, clip mean beside it": {"label": "emotion", "cmn": "plus"},
    "gender: CMN": {"label": "gender", "cmn": True},
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--protocol", default="data/demo-new/protocol")
    p.add_argument("--out", type=Path, default=Path("data/lang-abl"))
    p.add_argument("--steps", type=int, default=400, help="supervised-ceiling steps (batch 16)")
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--only", default="", help="comma-separated parts: baselines, supervised, batches")
    p.add_argument("--probe", nargs="*", default=[], help="checkpoints: linear probe of their audio embeddings")
    p.add_argument("--variants", default="", help="comma-separated indices into SUPERVISED_VARIANTS (default: all)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    parts = set(args.only.split(",")) if args.only else {"baselines", "supervised", "batches"}
    if args.probe:
        for checkpoint in args.probe:
            print(checkpoint, {k: round(v, 1) for k, v in embedding_probe(checkpoint, args.protocol).items()})
        return 0
    if parts == {"batches"}:
        for row in batch_mix(args.protocol):
            print(row)
        return 0
    data = extract(args.protocol, args.out / "features.npz")
    report_path = args.out / "lang_ablation.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    report["clips"] = {split: len(rows["mel"]) for split, rows in data.items()}
    report["held_out_voices"] = sorted(held_out_speakers(data))
    report["chance"] = {label: 100 / len(set(data["test"][label])) for label in LABELS}
    if "batches" in parts:
        report["batch_mix"] = batch_mix(args.protocol)
    if "baselines" in parts:
        report["input_baselines"] = input_baselines(data)
        report_path.write_text(json.dumps(report, indent=2) + "\n")
    if "supervised" in parts:
        rows = list(report.get("supervised_language", []))
        chosen = [int(i) for i in args.variants.split(",")] if args.variants else range(len(SUPERVISED_VARIANTS))
        for name, variant in [list(SUPERVISED_VARIANTS.items())[i] for i in chosen]:
            rows = [r for r in rows if r["variant"] != name]
            runs = [supervised(data, steps=args.steps, seed=seed, **variant) for seed in range(args.seeds)]
            accuracies = [r["accuracy"] for r in runs]
            rows.append(
                {"variant": name, **variant, "steps": args.steps, "accuracies": accuracies,
                 "mean": float(np.mean(accuracies)), "train_clips": runs[0]["train_clips"],
                 "cpu_s": sum(r["cpu_s"] for r in runs)}
            )  # fmt: skip
            print(f"  {name}: {variant.get('label', 'language')} {accuracies} ({rows[-1]['cpu_s']} CPU s)", flush=True)
            report["supervised_language"] = rows
            report_path.write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "lang_ablation.md").write_text(markdown(report))
    print(markdown(report))
    return 0


def markdown(report: dict[str, Any]) -> str:
    chance = report["chance"]
    lines = [
        f"Test split: {report['clips']['test']} clips, held-out voices {', '.join(report['held_out_voices'])}.",
        "",
    ]
    if "input_baselines" in report:
        lines += [
            "| input features (linear classifier) | language | gender | emotion |",
            "|---|---|---|---|",
            *(
                f"| {r['features']} | {r['language']:.1f} | {r['gender']:.1f} | {r['emotion']:.1f} |"
                for r in report["input_baselines"]
            ),
            f"| chance | {chance['language']:.1f} | {chance['gender']:.1f} | {chance['emotion']:.1f} |",
            "",
        ]
    if "supervised_language" in report:
        lines += [
            "| tiny audio tower trained on one label (supervised; language unless named) | steps | test accuracy (seeds) | mean |",
            "|---|---|---|---|",
        ]
        for r in report["supervised_language"]:
            lines.append(
                f"| {r['variant']} | {r['steps']} | {', '.join(f'{a:.1f}' for a in r['accuracies'])} | {r['mean']:.1f} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
