"""The attributes stage against the controlled demo corpus's ground truth (issue [describe]).

    python bench/attributes.py --out /tmp/attr [--items 40] [--langs en,fr,de] [--dnsmos-clips 24]
                               [--whisper-items 12] [--skip-build] [--seed 0]
    python bench/attributes.py --out /tmp/attr --transcribing [--web-langs en,fr,de] [--web-variants m1,f2]
                               [--repeats 1]

1. builds the demo corpus (``--demo-items`` per language, no augmentation, no translation, no
   video; the attributes stage on, as the demo source defaults) into ``--out/controlled``: each
   item's espeak-ng speed and pitch, room RT60 and noise SNR are its ``original_data.extra.truth``;
2. **bin accuracy** per attribute: the level the stage wrote against the level the item was made
   for (a neighbouring level counts wrong); rate, pitch, noise (clean = no noise mixed) and
   reverberation (close = dry or RT60 < 0.3 s); a sample without an estimate counts wrong;
3. **Spearman rho** of estimate vs truth: rate (phonemes/s vs espeak-ng words/min, per language,
   then pooled by rank within language), pitch (median F0 vs the calibrated F0 of the voice,
   style and base pitch), RT60 (the reverberant items), SNR (the noise-mixed items);
4. **DNSMOS ordering**: ``--dnsmos-clips`` clean, dry samples mixed with each noise of the
   generated bank at 15 dB (noisy) and 0 dB (very noisy): the share of pairs (same clip, same
   noise) ordered clean > noisy > very noisy by OVRL (the target), and by SIG and BAK beside it;
5. **cost** of each estimator in audio-seconds per CPU-second (this process, one thread), on the
   controlled samples' audio (pitch by the stage's default ``yin`` and by ``pyin``, SNR by the
   stage's noise floor and by WADA-SNR, side by side);
6. **the stage beside Whisper**: the same ``--whisper-items`` items (en) built three times with
   ``--aligner whisper``: ``--attributes none``, ``all``, and ``all`` but DNSMOS (one run each,
   one worker, in this order); the CPU of each build process (user + system) and the ratios.
   Whisper here aligns only the items over 10 s (the demo's items carry their transcripts);
7. ``--transcribing`` (instead of 1..6): the stage beside a build in which Whisper transcribes
   every item, what a user with unlabelled recordings runs: ``bench/segment.py web``'s fixed 30-s
   and 10-s windows cut through words (espeak-ng, ``--web-langs`` x ``--web-variants``) through
   ``clara shards --source folder --aligner whisper --transcribe-missing`` (one worker) with
   ``--attributes none``, ``all`` (DNSMOS int8, the default), ``all`` with ``--dnsmos-precision fp32``
   and ``all`` but DNSMOS; the CPU of each and the ratios. With two
   or more voices the first voice alone is built too: the difference of the two corpora's CPU is
   what the extra samples cost (``marginal``: a worker's cost per sample on any corpus, the
   once-per-process loading left out), the medians of ``--repeats`` alternating rounds after one
   uncounted warm-up build per corpus; beside them the stage's own time over Whisper's segment
   stage's in the same build (``stage_over_segment_percent``, from the summary's batch latencies:
   steady where a build's CPU moves by +-10 % with Whisper's decoding).

Targets (issue [describe]): rate and pitch bins >= 95 %, RT60 and SNR rho >= 0.9, DNSMOS ordering
>= 95 %, the stage <= 25 % CPU on top of a Whisper build. Writes ``--out/results.json``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tarfile
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

ATTRIBUTES = {  # attribute word key -> truth level field
    "rate": "rate_level",
    "pitch": "pitch_level",
    "noise": "noise_level",
    "reverberation": "reverberation_level",
}


def build(out: Path, lang: str, items: int, extra: list[str], seed: int) -> float:
    """One ``clara shards`` build of the demo at ``seed``; returns its CPU seconds (user + system)."""
    command = [
        sys.executable, "-m", "pipelines.cli", "shards", "--source", "demo", "--lang", lang, "--output", str(out),
        "--demo-items", str(items), "--demo-videos", "0", "--augment", "none", "--translate-to", "none",
        "--workers", "1", "--overwrite", "--seed", str(seed), *extra,
    ]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with (out.parent / f"{out.name}-{lang}.log").open("w") as log:
        subprocess.run(command, check=True, stdout=log, stderr=subprocess.STDOUT, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def read_samples(root: Path) -> list[tuple[dict[str, Any], np.ndarray]]:
    """(sample JSON, 48 kHz audio) of every sample under ``root``."""
    import soundfile as sf

    out = []
    for path in sorted(root.rglob("*.tar")):
        members: dict[str, dict[str, bytes]] = defaultdict(dict)
        with tarfile.open(path) as tar:
            for member in tar:
                if member.isfile():
                    key, _, ext = member.name.partition(".")
                    members[key][ext] = tar.extractfile(member).read()  # type: ignore[union-attr]
        for key in sorted(members):
            audio_ext = next((e for e in members[key] if e in ("flac", "wav")), None)
            if "json" in members[key] and audio_ext:
                audio, _ = sf.read(io.BytesIO(members[key][audio_ext]), dtype="float32")
                out.append((json.loads(members[key]["json"]), audio))
    return out


def spearman(a: list[float], b: list[float]) -> float | None:
    from scipy.stats import spearmanr

    return round(float(spearmanr(a, b).statistic), 3) if len(a) > 2 else None


def bin_accuracy(metas: list[dict[str, Any]]) -> dict[str, Any]:
    out = {}
    for key, field in ATTRIBUTES.items():
        pairs = [(m["original_data"]["attributes"]["words"].get(key), m["original_data"]["extra"]["truth"][field])
                 for m in metas]  # fmt: skip
        right = sum(said == truth for said, truth in pairs)
        missing = sum(said is None for said, _ in pairs)
        confusion: dict[str, int] = defaultdict(int)
        for said, truth in pairs:
            if said != truth:
                confusion[f"{truth}->{said}"] += 1
        out[key] = {"accuracy": round(100 * right / len(pairs), 1), "samples": len(pairs), "no_estimate": missing,
                    "wrong": dict(sorted(confusion.items(), key=lambda kv: -kv[1]))}  # fmt: skip
    return out


def correlations(metas: list[dict[str, Any]]) -> dict[str, Any]:
    def attr(m: dict[str, Any], *path: str) -> Any:
        node: Any = m["original_data"]["attributes"]
        for part in path:
            node = (node or {}).get(part)
        return node

    out: dict[str, Any] = {}
    by_lang: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for m in metas:
        by_lang[m["original_data"]["language"]].append(m)
    rate = {}
    for lang, group in by_lang.items():
        rows = [(attr(m, "speaking_rate", "value"), m["original_data"]["extra"]["truth"]["speed_wpm"]) for m in group]
        rows = [r for r in rows if r[0] is not None]
        rate[lang] = spearman([r[0] for r in rows], [r[1] for r in rows])
    out["rate_by_language"] = rate
    checks = {
        "pitch": (("pitch", "median_hz"), "pitch_hz", lambda t: True),
        "rt60": (("reverberation", "rt60_s"), "rt60_s", lambda t: t["rt60_s"] is not None),
        "snr": (("snr", "snr_db"), "snr_db", lambda t: t["snr_db"] is not None),
    }
    for name, (path, field, keep) in checks.items():
        rows = [(attr(m, *path), m["original_data"]["extra"]["truth"][field]) for m in metas
                if keep(m["original_data"]["extra"]["truth"])]  # fmt: skip
        estimated = [r for r in rows if r[0] is not None]
        out[name] = {"rho": spearman([r[0] for r in estimated], [r[1] for r in estimated]),
                     "samples": len(rows), "no_estimate": len(rows) - len(estimated)}  # fmt: skip
    # RT60 over every sample, dry ones at 0 s (does the estimate separate dry from reverberant?)
    rows = [(attr(m, "reverberation", "rt60_s"), m["original_data"]["extra"]["truth"]["rt60_s"] or 0.0) for m in metas]
    rows = [r for r in rows if r[0] is not None]
    out["rt60_with_dry"] = {"rho": spearman([r[0] for r in rows], [r[1] for r in rows]), "samples": len(rows)}
    return out


def to_16k(audio: np.ndarray) -> np.ndarray:
    import soxr

    return soxr.resample(audio, 48_000, 16_000).astype(np.float32)


def dnsmos_ordering(samples: list[tuple[dict[str, Any], np.ndarray]], clips: int) -> dict[str, Any]:
    """:func:`dnsmos_ordering_of` the first ``clips`` clean, dry samples longer than 1 s."""
    truth = [a for m, a in samples if m["original_data"]["extra"]["truth"]["snr_db"] is None
             and m["original_data"]["extra"]["truth"]["rt60_s"] is None and a.size > 48_000]  # fmt: skip
    return dnsmos_ordering_of(truth[:clips])


NOISE_LEVELS_DB = (("noisy", 15.0), ("very_noisy", 0.0))
"""The levels of the DNSMOS ordering: each clean clip mixed with each noise at these SNRs."""


def noise_levels(audio: np.ndarray, bank) -> Iterator[tuple[int, str, np.ndarray]]:
    """(noise index, level, 48 kHz audio) of one clean clip: itself (noise -1, ``clean``), then mixed
    with each noise of ``bank`` at :data:`NOISE_LEVELS_DB`, each noise from its own offset."""
    from augment.mix import mix_noise, weight_for_snr_db

    yield -1, "clean", audio
    for index, (_, noise) in enumerate(bank.entries):
        for level, snr in NOISE_LEVELS_DB:
            yield index, level, mix_noise(audio, noise, weight_for_snr_db(snr), 4_800 * index).audio


def dnsmos_ordering_of(clips: list[np.ndarray]) -> dict[str, Any]:
    """Each clean 48 kHz clip mixed with each noise of the generated bank at 15 dB (noisy) and 0 dB
    (very noisy): two pairs per clip and noise (clean > noisy, noisy > very noisy), the share ordered
    by OVRL (``ordered_percent``), SIG and BAK, each pair kind's share (``ordered_percent_split``), and
    per clip its clean OVRL and its pairs ordered by OVRL (of ``2 x noises``).
    ``bench/real_speech.py`` calls it on recorded speech."""
    from transforms.attributes.dnsmos import estimate_dnsmos
    from transforms.tts.scene import noise_bank

    bank = noise_bank(48_000)
    scores_of = ("ovrl", "sig", "bak")
    pairs, ordered, means = 0, dict.fromkeys(scores_of, 0), defaultdict(list)
    split = {name: [0, 0] for name in scores_of}  # clean > noisy, noisy > very noisy
    by_clip = []  # per clip: its pairs ordered by OVRL
    for audio in clips:
        by_clip.append(0)
        scored = {(index, level): estimate_dnsmos(to_16k(mixed)) for index, level, mixed in noise_levels(audio, bank)}
        clean = scored[(-1, "clean")]
        means["clean"].append(clean.ovrl)
        for index in range(len(bank.entries)):
            scores = [clean]
            for level, _ in NOISE_LEVELS_DB:
                scores.append(scored[(index, level)])
                means[level].append(scores[-1].ovrl)
            pairs += 2
            for name in scores_of:
                values = [getattr(score, name) for score in scores]
                ordered[name] += (values[0] > values[1]) + (values[1] > values[2])
                by_clip[-1] += int(name == "ovrl") * ((values[0] > values[1]) + (values[1] > values[2]))
                split[name][0] += values[0] > values[1]
                split[name][1] += values[1] > values[2]
    half = pairs // 2
    return {
        "clips": len(clips),
        "noises": len(bank),
        "pairs": pairs,
        "ordered_percent": round(100 * ordered["ovrl"] / pairs, 1) if pairs else None,
        "ordered_percent_by": {k: round(100 * v / pairs, 1) if pairs else None for k, v in ordered.items()},
        "ordered_percent_split": {
            k: {
                "clean>noisy": round(100 * a / half, 1) if half else None,
                "noisy>very_noisy": round(100 * b / half, 1) if half else None,
            }
            for k, (a, b) in split.items()
        },
        "mean_ovrl": {k: round(float(np.mean(v)), 3) for k, v in means.items()},
        "clean_ovrl_by_clip": means["clean"],
        "ovrl_ordered_by_clip": by_clip,
    }


def estimator_costs(samples: list[tuple[dict[str, Any], np.ndarray]]) -> dict[str, Any]:
    """Audio-seconds per CPU-second of each estimator (this process, on the samples' audio)."""
    from schemas import WordAlignment
    from transforms.attributes.dnsmos import estimate_dnsmos
    from transforms.attributes.pitch import estimate_pitch
    from transforms.attributes.rate import estimate_rate
    from transforms.attributes.room import estimate_rt60
    from transforms.attributes.snr import estimate_snr
    from transforms.quality import wada_snr_db

    audio16 = [to_16k(a[: 10 * 48_000]) for _, a in samples]
    seconds = sum(a.size for a in audio16) / 16_000
    estimate_pitch(audio16[0], 16_000, "pyin")  # warm: pyin's kernels, the ONNX session
    estimate_pitch(audio16[0], 16_000, "yin")
    estimate_dnsmos(audio16[0])
    jobs = {
        "rate": lambda i, m, a: estimate_rate(
            m["original_data"].get("transcript"), m["original_data"]["language"],
            [WordAlignment(**w) for w in m.get("alignment") or []], a, 48_000),
        "pitch": lambda i, m, a: estimate_pitch(audio16[i], 16_000, "yin"),
        "pitch_pyin": lambda i, m, a: estimate_pitch(audio16[i], 16_000, "pyin"),
        "snr": lambda i, m, a: estimate_snr(audio16[i]),
        "snr_wada": lambda i, m, a: wada_snr_db(a[: 10 * 48_000]),
        "reverberation": lambda i, m, a: estimate_rt60(audio16[i]),
        "dnsmos": lambda i, m, a: estimate_dnsmos(audio16[i]),
    }  # fmt: skip
    out = {}
    for name, job in jobs.items():
        started = time.process_time()
        for i, (m, a) in enumerate(samples):
            job(i, m, a)
        cpu = time.process_time() - started
        out[name] = {"audio_s_per_cpu_s": round(seconds / cpu, 1), "cpu_s": round(cpu, 2)}
    out["audio_s"] = round(seconds, 1)
    return out


def stage_latency_ms(log: Path) -> dict[str, float]:
    """The build summary's mean batch latency per stage (``segment  41 -> 68  11409 ms/batch``)."""
    found = {}
    for line in log.read_text().splitlines():
        words = line.split()
        if len(words) == 6 and words[2] == "->" and words[5] == "ms/batch":
            found[words[0]] = float(words[4])
    return found


def transcribing(out: Path, languages: list[str], variants: list[str], repeats: int = 1) -> dict[str, Any]:
    """The attributes stage's CPU on top of a build where Whisper transcribes every item (7. above).

    Two corpora: the first voice of ``variants`` alone (small) and all of them (large), each built
    with ``--attributes none``, ``all`` (DNSMOS int8 and fp32) and all but DNSMOS, ``repeats`` rounds, the configurations
    alternating within a round. A build's CPU holds costs paid once per process (imports, Whisper's
    and DNSMOS's sessions, espeak-ng's voices); the difference large - small is what the extra
    samples cost, which is what a worker pays per sample on a corpus of any size (``marginal``)."""
    from bench.segment import timed, write_windows

    sizes = {"small": variants[:1], "large": variants} if len(variants) > 1 else {"large": variants}
    runs = {  # DNSMOS at the stage's default precision (int8) and at fp32, side by side
        "none": ["--attributes", "none"],
        "all": ["--attributes", "all"],
        "all_fp32": ["--attributes", "all", "--dnsmos-precision", "fp32"],
        "all_but_dnsmos": ["--attributes", "rate,pitch,snr,reverberation"],
    }
    cpu: dict[str, dict[str, list[float]]] = {size: {name: [] for name in runs} for size in sizes}
    # the stage's own time beside Whisper's segment stage in the same build (same batches): free of
    # the build-to-build spread of Whisper's decoding, which moves a build's CPU by +-10 %
    share: dict[str, dict[str, list[float]]] = {size: {name: [] for name in runs} for size in sizes}
    found: dict[str, Any] = {"repeats": repeats, "variants": {k: v for k, v in sizes.items()}}
    for size, voices in sizes.items():
        truth = write_windows(out / size / "wav", languages, voices, [30.0, 10.0])
        command = [sys.executable, "-m", "pipelines.cli", "shards", "--source", "folder",
                   "--input", str(out / size / "wav"), "--name", "web", "--workers", "1", "--overwrite",
                   "--aligner", "whisper", "--transcribe-missing", "--split-fractions", "1,0,0",
                   "--shard-size", "9"]  # fmt: skip
        # one build first, not counted: a fresh checkout's first build costs more (measured: 27
        # against 18 CPU s for the same build; cold caches), which would land on one configuration
        timed([*command, "--output", str(out / size / "warm_up"), "--attributes", "all"], out / size / "warm_up.log")
        for round_ in range(repeats):
            order = list(runs) if round_ % 2 == 0 else list(runs)[::-1]
            for name in order:
                target = out / size / name
                _, seconds = timed([*command, "--output", str(target), *runs[name]],
                                   out / size / f"{name}.{round_}.log")  # fmt: skip
                cpu[size][name].append(seconds)
                latency = stage_latency_ms(out / size / f"{name}.{round_}.log")
                if "attributes" in latency and latency.get("segment"):
                    share[size][name].append(100 * latency["attributes"] / latency["segment"])
                print(f"{size} {' '.join(runs[name])} (round {round_}): {seconds:.1f} CPU s", flush=True)
        samples = read_samples(out / size / "all")
        median = {name: float(np.median(v)) for name, v in cpu[size].items()}
        found[size] = {
            "files": len(truth),
            "samples": len(samples),
            "audio_s": round(sum(a.size for _, a in samples) / 48_000, 1),
            "cpu_s": {k: [round(x, 1) for x in v] for k, v in cpu[size].items()},
            "added_percent": {
                k: round(100 * (v - median["none"]) / median["none"], 1) for k, v in median.items() if k != "none"
            },  # fmt: skip
            "stage_over_segment_percent": {k: round(float(np.median(v)), 1) for k, v in share[size].items() if v},
            "with_dnsmos": sum(1 for m, _ in samples if (m["original_data"].get("attributes") or {}).get("dnsmos")),
        }
    if "small" in sizes:
        median = {s: {k: float(np.median(v)) for k, v in cpu[s].items()} for s in sizes}
        extra = {k: median["large"][k] - median["small"][k] for k in runs}
        found["marginal"] = {
            "samples": found["large"]["samples"] - found["small"]["samples"],
            "audio_s": round(found["large"]["audio_s"] - found["small"]["audio_s"], 1),
            "cpu_s": {k: round(v, 1) for k, v in extra.items()},
            "added_percent": {
                k: round(100 * (v - extra["none"]) / extra["none"], 1) for k, v in extra.items() if k != "none"
            },  # fmt: skip
            "once_per_process_cpu_s": {
                k: round(
                    median["small"][k]
                    - extra[k]
                    * found["small"]["audio_s"]
                    / max(found["large"]["audio_s"] - found["small"]["audio_s"], 1e-9),
                    1,
                )
                for k in runs
            },  # fmt: skip
        }
    return found


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--items", type=int, default=40, help="demo items per language for the controlled corpus")
    p.add_argument("--langs", default="en,fr,de")
    p.add_argument("--dnsmos-clips", type=int, default=24)
    p.add_argument("--whisper-items", type=int, default=12, help="0: skip the Whisper comparison")
    p.add_argument("--skip-build", action="store_true", help="read an existing --out/controlled")
    p.add_argument("--seed", type=int, default=0, help="the demo's seed (0: the estimators' tuning set; see the doc)")
    p.add_argument(
        "--transcribing", action="store_true", help="only 7.: the stage beside a build where Whisper transcribes"
    )
    p.add_argument("--web-langs", default="en,fr,de", help="--transcribing: languages of the web windows")
    p.add_argument(
        "--web-variants",
        default="m1,f2",
        help="--transcribing: espeak-ng voices, one recording each; "
        "with two or more, the first voice alone is built too and the difference is the marginal cost",
    )
    p.add_argument("--repeats", type=int, default=1, help="--transcribing: rounds of the four builds per corpus")
    args = p.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.transcribing:
        found = transcribing(args.out, args.web_langs.split(","), args.web_variants.split(","), args.repeats)
        print(json.dumps(found), flush=True)
        (args.out / "transcribing.json").write_text(json.dumps(found, indent=1) + "\n")
        return 0
    results: dict[str, Any] = {"items_per_language": args.items, "languages": args.langs, "seed": args.seed}
    if not args.skip_build:
        results["build_cpu_s"] = {
            lang: round(build(args.out / "controlled", lang, args.items, [], args.seed), 1)
            for lang in args.langs.split(",")
        }
    samples = read_samples(args.out / "controlled")
    metas = [m for m, _ in samples]
    results["samples"] = len(metas)
    results["bins"] = bin_accuracy(metas)
    results["spearman"] = correlations(metas)
    print(json.dumps({k: results[k] for k in ("samples", "bins", "spearman")}, indent=1), flush=True)
    results["dnsmos_ordering"] = dnsmos_ordering(samples, args.dnsmos_clips)
    print(json.dumps(results["dnsmos_ordering"]), flush=True)
    results["estimator_cost"] = estimator_costs(samples)
    print(json.dumps(results["estimator_cost"]), flush=True)
    if args.whisper_items:
        whisper = ["--aligner", "whisper"]
        base = build(args.out / "whisper", "en", args.whisper_items, [*whisper, "--attributes", "none"], args.seed)
        with_stage = build(
            args.out / "whisper_attr", "en", args.whisper_items, [*whisper, "--attributes", "all"], args.seed
        )
        no_dnsmos = "rate,pitch,snr,reverberation"
        without_dnsmos = build(
            args.out / "whisper_attr4", "en", args.whisper_items, [*whisper, "--attributes", no_dnsmos], args.seed
        )
        results["whisper_build"] = {"items": args.whisper_items, "cpu_s_without": round(base, 1),
                                    "cpu_s_with_attributes": round(with_stage, 1),
                                    "added_percent": round(100 * (with_stage - base) / base, 1),
                                    "cpu_s_with_all_but_dnsmos": round(without_dnsmos, 1),
                                    "added_percent_all_but_dnsmos": round(100 * (without_dnsmos - base) / base, 1),
                                    "samples": len(read_samples(args.out / "whisper_attr"))}  # fmt: skip
        print(json.dumps(results["whisper_build"]), flush=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
