"""Speech-aware segmentation, measured on espeak-ng paragraphs whose word timings are known.

    python bench/segment.py quality [--languages en,fr,de] [--model bundled:base]
    python bench/segment.py speed   [--model bundled:base] [--clips 6]
    python bench/segment.py web     [--languages en,fr,de] [--variants m1,f2] [--windows 30,10] [--workers 2]
                                    [--shared] [--keep DIR]

quality: each paragraph (13-35 s, several voices) goes through ``SegmentStage`` with Whisper
as the aligner and *no* transcript given, then: share of cuts that fall between words by the
true timings, longest segment, and word error rate of each segment's ASR transcript against
the true words whose midpoint lies inside the segment.

web: clips as the web cuts them (fixed 30-s and 10-s windows of long continuous espeak-ng
recordings, starting and ending mid-word; ``tests.segment.speech.web_windows``), written as WAV
files with a manifest, then, timed end to end as processes, in the same run: ``clara shards``
(``--aligner whisper --transcribe-missing``, ``--workers`` workers, shards of files / (4 x workers) items so
every worker has work to the end) against a bare per-file loop
(``--workers`` processes, each: read, faster-whisper ``BatchedInferencePipeline`` with its VAD on and
word timestamps, cut between words into pieces of at most 10 s, FLAC, tar). Per language and
window length: items lost (no sample, or a sample with speech but no transcript), pooled word
error rate against the true words of each window, wall time and CPU time (each command's whole
process tree); the build's retry counts and retry time come from its run summary. ``--shared``
adds the build with short clips sharing 30-s Whisper windows (``--whisper-share-windows``).

speed: real-time factor (audio seconds per wall second) of faster-whisper on CPU, one clip
at a time vs the batched pipeline packing all clips, in the same run; and model load time.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import math
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import soxr  # noqa: E402

from schemas import SAMPLE_RATE  # noqa: E402
from tests.segment.speech import PARAGRAPHS, make_sample  # noqa: E402
from transforms.segment.cut import normalize_token  # noqa: E402
from transforms.segment.stage import SegmentStage  # noqa: E402
from transforms.segment.whisper import WHISPER_SAMPLE_RATE, ClipRequest, FasterWhisperModelHandler  # noqa: E402
from transforms.tts import synthesize  # noqa: E402

VOICES = ("m1", "f2", "m3")


def corpus(language: str) -> list[tuple[str, str, np.ndarray, tuple]]:
    """(key, text, 48 kHz audio, true words): each paragraph, plus all of them joined (~30 s)."""
    texts = list(PARAGRAPHS[language])
    texts.append(" ".join(PARAGRAPHS[language][:2]))
    items = []
    for i, text in enumerate(texts):
        speech = synthesize(text, language, variant=VOICES[i % len(VOICES)])
        audio = soxr.resample(speech.audio, speech.sample_rate, SAMPLE_RATE).astype(np.float32)
        items.append((f"{language}{i}", text, audio, speech.words))
    return items


def word_error_rate(reference: list[str], hypothesis: list[str]) -> float:
    """Levenshtein distance over words divided by the reference length."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        current = [i]
        for j, hyp in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref != hyp)))
        previous = current
    return previous[-1] / max(1, len(reference))


def _tokens(text: str) -> list[str]:
    return [t for t in (normalize_token(x) for x in text.split()) if t]


def quality(languages: list[str], model: str) -> None:
    stage = SegmentStage(whisper_model=model)
    stage.setup()
    print(f"model {model}; max 10 s; Whisper word timings, no transcript given")
    print("lang | items | audio s | segments | cuts between words | max segment s | WER mean | WER median | WER max")
    for language in languages:
        items = corpus(language)
        samples = [make_sample(key, audio, language) for key, _, audio, _ in items]
        out, failures = stage.process(samples)
        truth = {key: words for key, _, _, words in items}
        cuts_ok = cuts = 0
        wers = []
        for sample in out:
            words = truth[sample.item.key]
            start, end = sample.segment.start_s, sample.segment.start_s + sample.segment.duration_s
            for cut in (start, end):
                if 0.0 < cut < (sample.source_duration_s or 0) - 1e-3:
                    cuts += 1
                    cuts_ok += not any(w.start_s < cut < w.end_s for w in words)
            reference = [t for w in words if start <= w.start_s + w.duration_s / 2 < end for t in _tokens(w.word)]
            wers.append(word_error_rate(reference, _tokens(sample.transcript or "")))
        audio_s = sum(len(a) for _, _, a, _ in items) / SAMPLE_RATE
        longest = max((s.duration_s for s in out), default=0.0)
        print(
            f"{language} | {len(items)} | {audio_s:.1f} | {len(out)} | {cuts_ok}/{cuts} = {100 * cuts_ok / max(1, cuts):.1f}% | "
            f"{longest:.2f} | {100 * statistics.mean(wers):.1f}% | {100 * statistics.median(wers):.1f}% | "
            f"{100 * max(wers):.1f}%" + (f" | failures: {[f.reason for f in failures]}" if failures else "")
        )


def speed(model: str, clips: int, batch_size: int) -> None:
    requests = []
    texts = [t for language in ("en",) for t in PARAGRAPHS[language]]
    for i in range(clips):
        speech = synthesize(texts[i % len(texts)], "en", variant=VOICES[i % len(VOICES)])
        audio = soxr.resample(speech.audio, speech.sample_rate, WHISPER_SAMPLE_RATE).astype(np.float32)
        requests.append(ClipRequest(f"c{i}", audio, "en"))
    audio_s = sum(r.duration_s for r in requests)
    results = {}
    for batched in (False, True):
        handler = FasterWhisperModelHandler(model, batched=batched, batch_size=batch_size)
        started = time.perf_counter()
        loaded = handler.load_model()
        load_s = time.perf_counter() - started
        handler.run_inference(requests[:1], loaded)  # warm-up
        started = time.perf_counter()
        handler.run_inference(requests, loaded)
        elapsed = time.perf_counter() - started
        results[batched] = audio_s / elapsed
        print(
            f"{'batched  ' if batched else 'unbatched'} load {load_s:.2f} s | {audio_s:.0f} s audio in {elapsed:.1f} s | RTF {results[batched]:.2f}x real time"
        )
    print(
        f"batched / unbatched throughput: {results[True] / results[False]:.2f}x (model {model}, {clips} clips, batch {batch_size})"
    )


# -- web: fixed windows cut through words -----------------------------------------------------------


def write_windows(folder: Path, languages: list[str], variants: list[str], sizes: list[float]) -> dict[str, dict]:
    """WAV files (48 kHz, 16 bit) and ``manifest.jsonl``; returns per file its language and true words."""
    import soundfile as sf

    from tests.segment.speech import web_windows

    folder.mkdir(parents=True, exist_ok=True)
    truth: dict[str, dict] = {}
    rows = []
    for language in languages:
        for variant in variants:
            for size in sizes:
                offset = 0.37 if size >= 20 else 0.61  # other cut points than the long windows
                for i, (audio, words, cut) in enumerate(web_windows(language, size, offset, variant)):
                    name = f"{language}_{variant}_{int(size)}s_{i:02d}.wav"
                    sf.write(folder / name, audio, SAMPLE_RATE, subtype="PCM_16")
                    truth[name] = {
                        "language": language,
                        "size": int(size),
                        "words": [w.word for w in words],
                        "cut": cut,
                    }
                    rows.append({"path": name, "language": language})
    (folder / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return truth


def _flac(audio: np.ndarray) -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, audio, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _bare_worker(job: tuple[list[str], str, str, str, int]) -> None:
    """One process of the bare loop: its files one at a time, into its own tar."""
    import soundfile as sf
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    from transforms.segment.models import resolve_faster_whisper_model

    paths, languages, out, model_name, index = job
    model = WhisperModel(resolve_faster_whisper_model(model_name, None), device="cpu", compute_type="int8")
    pipeline = BatchedInferencePipeline(model=model)
    with tarfile.open(out, "w") as tar:
        for path, language in zip(paths, languages.split(",")):
            audio, rate = sf.read(path, dtype="float32", always_2d=True)
            audio = audio.mean(axis=1)
            audio48 = audio if rate == SAMPLE_RATE else soxr.resample(audio, rate, SAMPLE_RATE)
            audio16 = soxr.resample(audio48, SAMPLE_RATE, WHISPER_SAMPLE_RATE).astype(np.float32)
            segments, _ = pipeline.transcribe(
                audio16, language=language, vad_filter=True, word_timestamps=True, batch_size=8
            )
            words = [w for seg in segments for w in seg.words or []]
            stem = Path(path).stem
            for k, piece in enumerate(_cut_10s(words, len(audio48) / SAMPLE_RATE)):
                first, last = int(piece[0] * SAMPLE_RATE), int(piece[1] * SAMPLE_RATE)
                _add(tar, f"{stem}_{k:03d}.flac", _flac(audio48[first:last]))
                meta = {"source": Path(path).name, "index": k, "transcript": " ".join(w.word.strip() for w in piece[2])}
                _add(tar, f"{stem}_{k:03d}.json", json.dumps(meta).encode())


def _cut_10s(words: list, duration_s: float, limit_s: float = 10.0) -> list[tuple[float, float, list]]:
    """Greedy: a piece ends before the word that would take it past ``limit_s``; cuts half way between words."""
    pieces: list[tuple[float, float, list]] = []
    start, current = 0.0, []
    for w in words:
        if current and w.end - start > limit_s:
            cut = (current[-1].end + w.start) / 2
            pieces.append((start, cut, current))
            start, current = cut, []
        current.append(w)
    if current:
        pieces.append((start, min(duration_s, start + limit_s), current))
    return pieces


def bare_loop(folder: Path, out: Path, model: str, workers: int) -> None:
    import multiprocessing

    rows = [json.loads(line) for line in (folder / "manifest.jsonl").read_text().splitlines()]
    out.mkdir(parents=True, exist_ok=True)
    jobs = [
        (
            [str(folder / r["path"]) for r in rows[i::workers]],
            ",".join(r["language"] for r in rows[i::workers]),
            str(out / f"bare-{i}.tar"),
            model,
            i,
        )
        for i in range(workers)
    ]
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        pool.map(_bare_worker, jobs)


def _read_transcripts(tars: list[Path], source_of) -> tuple[dict[str, list[tuple[int, str | None]]], int]:
    """Per source file its samples' (index, transcript), read from the tars' JSON members."""
    found: dict[str, list[tuple[int, str | None]]] = {}
    samples = 0
    for path in tars:
        with tarfile.open(path) as tar:
            for member in tar:
                if member.name.endswith(".json"):
                    meta = json.loads(tar.extractfile(member).read())
                    source, index, transcript = source_of(meta)
                    found.setdefault(source, []).append((index, transcript))
                    samples += 1
    return found, samples


def _clara_sample(meta: dict) -> tuple[str, int, str | None]:
    od = meta.get("original_data") or {}
    segment = meta.get("segment") or {}
    return Path(str(od.get("source_id") or od.get("path"))).name, int(segment.get("index", 0)), od.get("transcript")


def _bare_sample(meta: dict) -> tuple[str, int, str | None]:
    return meta["source"], meta["index"], meta["transcript"] or None


def timed(command: list[str], log: Path) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system of the command and every process it waited for:
    the bare loop's pool, the build's Beam workers) of one command."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with log.open("w") as out:
        subprocess.run(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, check=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def web(args: argparse.Namespace) -> None:
    languages, variants = args.languages.split(","), args.variants.split(",")
    sizes = [float(x) for x in args.windows.split(",")]
    with tempfile.TemporaryDirectory(prefix="clara-web-") as tmp_name:
        tmp = Path(args.keep or tmp_name)
        truth = write_windows(tmp / "wav", languages, variants, sizes)
        audio_s = sum(sf_info.frames / sf_info.samplerate for sf_info in map(_info, (tmp / "wav").glob("*.wav")))
        clara = [sys.executable, "-m", "pipelines.cli", "shards", "--source", "folder", "--input", str(tmp / "wav")]
        clara += ["--output", str(tmp / "clara"), "--name", "web", "--workers", str(args.workers), "--overwrite"]
        clara += ["--aligner", "whisper", "--transcribe-missing", "--whisper-model", args.model]
        # shards of a few items each, so that every worker has work to the end (one shard would be
        # built in 3 pieces over 2 workers: a worker idle for a third of the run)
        shard_size = max(1, math.ceil(len(truth) / (4 * args.workers)))
        clara += ["--split-fractions", "1,0,0", "--shard-size", str(shard_size)]
        bare = [sys.executable, str(Path(__file__).resolve()), "bare-loop", "--input", str(tmp / "wav")]
        bare += ["--output", str(tmp / "bare"), "--model", args.model, "--workers", str(args.workers)]
        print(f"load before: {_load()}; {os.cpu_count()} CPUs; {len(truth)} files, {audio_s:.0f} s of audio")
        timings = {"bare loop": timed(bare, tmp / "bare.log"), "clara": timed(clara, tmp / "clara.log")}
        found = {
            "bare loop": _read_transcripts(sorted((tmp / "bare").glob("*.tar")), _bare_sample),
            "clara": _read_transcripts(sorted((tmp / "clara").rglob("*.tar")), _clara_sample),
        }
        if args.shared:  # the build again with short clips sharing Whisper windows
            shared = [*clara, "--whisper-share-windows"]
            shared[shared.index(str(tmp / "clara"))] = str(tmp / "clara-shared")
            timings["clara, shared windows"] = timed(shared, tmp / "clara-shared.log")
            found["clara, shared windows"] = _read_transcripts(
                sorted((tmp / "clara-shared").rglob("*.tar")), _clara_sample
            )
        print(f"load after: {_load()}")
        print("system | windows | lang | files | lost (no sample / no transcript) | WER pooled | samples")
        for system, (by_source, _) in found.items():
            for size in sorted({t["size"] for t in truth.values()}, reverse=True):
                for language in languages + ["all"]:
                    names = [n for n, t in truth.items() if t["size"] == size and language in ("all", t["language"])]
                    _web_row(system, size, language, names, truth, by_source)
        print(
            "system | wall s | audio s / wall s | ratio to bare loop | CPU s | audio s / CPU s | CPU ratio to bare loop"
        )
        bare_wall, bare_cpu = timings["bare loop"]
        for system, (wall, cpu) in timings.items():
            print(
                f"{system} | {wall:.1f} | {audio_s / wall:.2f} | {bare_wall / wall:.2f}x | "
                f"{cpu:.1f} | {audio_s / cpu:.2f} | {bare_cpu / cpu:.2f}x"
            )
        if args.shared:
            print(
                f"clara, shared windows vs clara in CPU s: {timings['clara'][1] / timings['clara, shared windows'][1]:.2f}x"
            )
        summary = (tmp / "clara.log").read_text().splitlines()
        start = next((i for i, line in enumerate(summary) if line.startswith("  items failed")), len(summary))
        failed = list(itertools.takewhile(lambda line: line.startswith("    "), summary[start + 1 :]))
        print("clara failures by reason:\n" + ("\n".join(failed) or "    none"))
        retries = [
            line
            for line in summary
            if "ASR" in line or line.startswith(("    first", "    recovered", "    unrec", "    windows", "    time:"))
        ]
        print("clara run summary, ASR lines:\n" + ("\n".join(retries) or "  (no retries)"))


def _web_row(system: str, size: int, language: str, names: list[str], truth: dict, by_source: dict) -> None:
    lost_sample = lost_text = edits = reference_words = samples = 0
    for name in names:
        pieces = sorted(by_source.get(name, []))
        samples += len(pieces)
        lost_sample += not pieces
        lost_text += bool(pieces) and not any(t for _, t in pieces)
        reference = [t for w in truth[name]["words"] for t in _tokens(w)]
        hypothesis = [t for _, text in pieces for t in _tokens(text or "")]
        edits += round(word_error_rate(reference, hypothesis) * max(1, len(reference)))
        reference_words += len(reference)
    wer = 100 * edits / max(1, reference_words)
    print(
        f"{system} | {size} s | {language} | {len(names)} | {lost_sample + lost_text} ({lost_sample} / {lost_text}) | {wer:.1f}% | {samples}"
    )


def _info(path: Path):
    import soundfile as sf

    return sf.info(str(path))


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("quality", "speed", "web", "bare-loop", "all"), nargs="?", default="all")
    parser.add_argument("--languages", default="en,fr,de")
    parser.add_argument("--model", default="bundled:base")
    parser.add_argument("--clips", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--variants", default="m1,f2", help="web: espeak-ng voices, one recording each")
    parser.add_argument("--windows", default="30,10", help="web: window lengths (s)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--input", help="bare-loop: the folder of WAV files and manifest.jsonl")
    parser.add_argument("--output", help="bare-loop: where its tars go")
    parser.add_argument("--keep", help="web: work in this folder and keep it (default: a temporary one)")
    parser.add_argument(
        "--shared",
        action="store_true",
        help="web: also the build with --whisper-share-windows (short clips share 30-s Whisper windows), timed the same way",
    )
    args = parser.parse_args()
    if args.what == "web":
        return web(args)
    if args.what == "bare-loop":
        return bare_loop(Path(args.input), Path(args.output), args.model, args.workers)
    if args.what in ("quality", "all"):
        quality(args.languages.split(","), args.model)
    if args.what in ("speed", "all"):
        speed(args.model, args.clips, args.batch_size)


if __name__ == "__main__":
    main()
