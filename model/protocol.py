"""The demo's evaluation protocol (v2): held-out voices split into dev and test, sentences held
out at the sentence level, prompts checked against the training captions by word overlap.

The shard builder splits items at random, so the same espeak voice and the same sentence turn
up in train and test; a model can then "recognise" a test clip by its voice or its words. Long
demo items join several sentences and are cut into segments, so holding out whole *segment*
transcripts leaves every test sentence inside some training transcript. This re-split:

- **sentences**: every transcript is cut into sentences (at ``.``, ``!``, ``?``); a fixed
  fraction of the sentences (by a stable hash of their words) is held out. A clip is *held-out
  content* when every 3-word run of its transcript is a run of a held-out sentence, *seen
  content* when none is (clips of fewer than three words: their whole run), and *mixed* otherwise;
- **voices**: per (language, gender), with four voices or more the last speaker id (sorted) is a
  test voice and the one before it a dev voice; with two or three, the last one is held out as a
  dev or a test voice, alternating over the groups so that each split gets both genders and every
  language; a lone voice is not held out;
- ``train``: a training voice with seen content; ``valid`` (**dev**): a dev voice with held-out
  content, the split every choice is made on (steps, early stopping, probe, recipe); ``test``: a
  test voice with held-out content, reported only. Everything else (mixed content, a held-out
  voice reading a training sentence, a training voice reading a held-out one) is left out.

So no training clip shares a 3-word run with a dev or test sentence (:func:`shared_runs`
checks it on the written splits). A sample's augmented copies go where the sample goes.
Samples are read and written through the shard contract's record
(:class:`schemas.records.SampleMeta`); the output is shards in the contract layout
(``<out>/<dataset>/<split>/000000.tar`` + ``sizes.json`` + stats markers).

:func:`caption_families` abstracts captions into templates (``A {gender} saying
'{transcript}' in an {emotion} voice``) and :func:`prompt_overlap` measures how close a
zero-shot prompt is to them, word by word (paper Table II prompts are checked against them).
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
import tarfile
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from model.evalset import read_meta
from model.shards import resolve_shards
from model.zeroshot import render_label
from schemas.records import SampleMeta, ShardStats
from schemas.text import BUCKETS, sentence_bucket, words

HELD_OUT_SENTENCES = 0.4
"""Fraction of sentences (per language, by hash) kept out of training."""
RUN = 3
"""Words in a run: no training clip shares a run this long with a held-out sentence."""
SPLITS: tuple[str, ...] = ("train", "valid", "test")
"""``valid`` is the protocol's dev split (the trainer's validation and the probe's early stopping read it)."""

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def sentences(text: str) -> list[str]:
    """A transcript cut after every ``.``, ``!`` or ``?`` followed by a space."""
    return [part.strip() for part in _SENTENCE_END.split(text.strip()) if words(part)]


def word_runs(text: str, n: int = RUN) -> set[tuple[str, ...]]:
    """The ``n``-word runs of ``text`` (its whole word sequence when shorter)."""
    tokens = words(text)
    if len(tokens) < n:
        return {tuple(tokens)} if tokens else set()
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def sentence_held_out(sentence: str, fraction: float = HELD_OUT_SENTENCES) -> bool:
    """Whether a sentence is held out (a stable hash of its words)."""
    return sentence_bucket(sentence) < round(fraction * BUCKETS)


def _all_runs(sentence: str, n: int = RUN) -> set[tuple[str, ...]]:
    """Every run of 1..n words of a sentence (a short transcript is matched against these)."""
    tokens = words(sentence)
    return {tuple(tokens[i : i + k]) for k in range(1, n + 1) for i in range(len(tokens) - k + 1)}


def whole_sentences(transcripts: Iterable[str]) -> set[str]:
    """The sentences of the transcripts, less the fragments a segment cut leaves at its ends: a
    piece whose words run inside a longer piece's is a fragment ("Wildpferde streifen frei" of
    "Wildpferde streifen frei über die Ebene."). A fragment hashed as a sentence of its own could be
    held out while its sentence is not, and its runs would then make that sentence's clips mixed."""
    pieces = {" ".join(words(s)): s for text in transcripts for s in sentences(text)}
    keys = sorted(pieces, key=len, reverse=True)
    whole: list[str] = []
    for key in keys:
        if not any(f" {key} " in f" {longer} " for longer in whole):
            whole.append(key)
    return {pieces[key] for key in whole}


@dataclasses.dataclass
class HeldOutText:
    """The held-out sentences and every word run inside them."""

    sentences: set[str]
    runs: set[tuple[str, ...]]

    @classmethod
    def from_transcripts(cls, transcripts: Iterable[str], fraction: float = HELD_OUT_SENTENCES) -> HeldOutText:
        held = {s for s in whole_sentences(transcripts) if sentence_held_out(s, fraction)}
        runs: set[tuple[str, ...]] = set()
        for sentence in held:
            runs |= _all_runs(sentence)
        return cls(held, runs)

    def content(self, transcript: str | None) -> str:
        """``held``, ``seen``, ``mixed``; ``none`` without a transcript.

        ``held``: every run inside each of the transcript's sentences (or sentence fragments, at a
        segment's ends) is a run of a held-out sentence; the runs that straddle two sentences are
        not words of any sentence and do not count (before, they made every clip of two held-out
        sentences ``mixed``). ``seen``: no run of the whole transcript, straddling ones included,
        is a held-out run (the leak guard stays strict)."""
        whole = word_runs(transcript or "")
        if not whole:
            return "none"
        inner = set().union(*(word_runs(piece) for piece in sentences(transcript or "")))
        if inner and all(run in self.runs for run in inner):
            return "held"
        return "seen" if not any(run in self.runs for run in whole) else "mixed"


def voice_roles(metas: Iterable[SampleMeta]) -> dict[str, str]:
    """Held-out speaker id → ``valid`` (dev) or ``test`` (module docstring)."""
    groups: dict[tuple[str, str], set[str]] = defaultdict(set)
    for meta in metas:
        speaker = meta.original_data.get("speaker_id")
        if speaker:
            groups[(meta.language, str(meta.original_data.get("gender")))].add(str(speaker))
    languages = sorted({language for language, _ in groups})
    genders = sorted({gender for _, gender in groups})
    roles: dict[str, str] = {}
    for (language, gender), speakers in sorted(groups.items()):
        ordered = sorted(speakers)
        if len(ordered) >= 4:
            roles[ordered[-1]], roles[ordered[-2]] = "test", "valid"
        elif len(ordered) >= 2:
            parity = (languages.index(language) + genders.index(gender)) % 2
            roles[ordered[-1]] = "test" if parity == 0 else "valid"
    return roles


def held_out_voices(metas: Iterable[SampleMeta]) -> set[str]:
    """Every held-out speaker id (dev and test)."""
    return set(voice_roles(metas))


def assign_split(meta: SampleMeta, roles: dict[str, str], text: HeldOutText) -> str | None:
    """``train`` / ``valid`` (dev) / ``test`` under the protocol, or None (left out)."""
    role = roles.get(str(meta.original_data.get("speaker_id")))
    content = text.content(meta.original_data.get("transcript"))
    if role is None:
        return "train" if content in ("seen", "none") else None
    return role if content in ("held", "none") else None


def shared_runs(train: Iterable[str], held_out: Iterable[str], n: int = RUN) -> set[tuple[str, ...]]:
    """The ``n``-word runs that training transcripts share with held-out sentences (should be empty)."""
    held: set[tuple[str, ...]] = set()
    for text in held_out:
        for sentence in sentences(text):
            held |= _all_runs(sentence, n)
    return {run for text in train for run in word_runs(text, n) if run in held}


def _read_all(specs: list[str]) -> list[tuple[str, dict[str, bytes], SampleMeta]]:
    """Every sample of every split: ``(dataset name, members by extension, record)``."""
    out = []
    for split in ("train", "valid", "test"):
        for url in resolve_shards(specs, split).urls:
            dataset = Path(url).parent.parent.name
            members: dict[str, dict[str, bytes]] = defaultdict(dict)
            with tarfile.open(url) as tar:
                for member in tar:
                    if member.isfile():
                        key, _, extension = member.name.partition(".")
                        members[key][extension] = tar.extractfile(member).read()  # type: ignore[union-attr]
            for key in sorted(members):
                if "json" in members[key]:
                    out.append((dataset, members[key], read_meta(members[key]["json"], split)))
    return out


def _write_split(folder: Path, samples: list[tuple[dict[str, bytes], SampleMeta]], per_shard: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    sizes = {}
    for index, first in enumerate(range(0, len(samples), per_shard)):
        name = f"{index:06d}.tar"
        chunk = samples[first : first + per_shard]
        with tarfile.open(folder / name, "w", format=tarfile.USTAR_FORMAT) as tar:
            for members, meta in chunk:
                for extension, data in sorted(members.items()):
                    if extension == "json":
                        data = json.dumps(meta.to_json_dict(), ensure_ascii=False).encode()
                    info = tarfile.TarInfo(f"{meta.key}.{extension}")
                    info.size, info.mtime, info.mode = len(data), 0, 0o644
                    tar.addfile(info, io.BytesIO(data))
        sizes[name] = len(chunk)
        stats = ShardStats(
            shard=name,
            split=folder.name,
            items_in=len(chunk),
            items_ok=len(chunk),
            items_failed=0,
            samples=len(chunk),
            duration_s=sum(meta.duration_s for _, meta in chunk),
            bytes=(folder / name).stat().st_size,
        )
        (folder / name.replace(".tar", ".stats.json")).write_text(json.dumps(stats.to_dict()))
    (folder / "sizes.json").write_text(json.dumps(sizes))


def resplit(
    specs: list[str], out: Path, sentence_fraction: float = HELD_OUT_SENTENCES, per_shard: int = 128
) -> dict[str, Any]:
    """Write the protocol's splits of ``specs``' samples under ``out``; returns a summary."""
    samples = _read_all(specs)
    roles = voice_roles(meta for _, _, meta in samples)
    text = HeldOutText.from_transcripts(
        (str(meta.original_data.get("transcript") or "") for _, _, meta in samples), sentence_fraction
    )
    by_split: dict[tuple[str, str], list[tuple[dict[str, bytes], SampleMeta]]] = defaultdict(list)
    left_out: Counter[str] = Counter()
    for dataset, members, meta in samples:
        split = assign_split(meta, roles, text)
        if split is None:
            if not meta.augmentations:
                left_out[text.content(meta.original_data.get("transcript"))] += 1
            continue
        by_split[(dataset, split)].append((members, dataclasses.replace(meta, split=split)))
    for (dataset, split), chunk in sorted(by_split.items()):
        _write_split(out / dataset / split, chunk, per_shard)
    originals = Counter(split for (_, split), chunk in by_split.items() for _, m in chunk if not m.augmentations)
    transcripts = {
        split: [str(m.original_data.get("transcript") or "") for (_, s), chunk in by_split.items() if s == split
                for _, m in chunk]
        for split in SPLITS
    }  # fmt: skip
    return {
        "version": 2,
        "held_out_voices": {role: sorted(v for v, r in roles.items() if r == role) for role in ("valid", "test")},
        "held_out_sentence_fraction": sentence_fraction,
        "held_out_sentences": len(text.sentences),
        "sentences": len(whole_sentences(str(m.original_data.get("transcript") or "") for _, _, m in samples)),
        "clips": {split: originals.get(split, 0) for split in SPLITS},
        "left_out_clips": dict(left_out),
        "train_runs_shared_with_held_out": len(
            shared_runs(transcripts["train"], transcripts["valid"] + transcripts["test"])
        ),
        "rule": "train = training voice, no 3-word run of a held-out sentence; valid (dev) = dev voice, "
        "held-out sentences only; test = test voice, held-out sentences only; the rest is left out",
    }


_TASK_FIELDS = {"gender": "gender", "emotion": "emotion", "language": "language"}
_LEVEL_TASKS = {"rate": ("slow", "fast"), "pitch": ("low", "high")}
"""Zero-shot tasks on the attribute captions' words (``quickly``, ``high-pitched``): abstracted in a family too."""


def caption_family(text: str, meta: SampleMeta, language: str) -> str:
    """A caption with its sample's transcript and label words replaced by ``{placeholders}``."""
    family = text
    transcript = meta.original_data.get("transcript")
    if transcript:
        family = family.replace(str(transcript), "{transcript}")
    for task, field_name in _TASK_FIELDS.items():
        value = meta.original_data.get(field_name)
        if not value:
            continue
        for word in sorted({render_label(task, str(value), language), str(value)}, key=len, reverse=True):
            if word:
                family = re.sub(rf"\b{re.escape(word)}\b", "{" + task + "}", family, flags=re.IGNORECASE)
    for task in _LEVEL_TASKS:  # the measured level's words, whichever level the caption says
        for word in sorted(
            {render_label(task, label, language) for label in _LEVEL_TASKS[task]}, key=len, reverse=True
        ):
            family = re.sub(rf"(?<![\w-]){re.escape(word)}(?![\w-])", "{" + task + "}", family, flags=re.IGNORECASE)
    return family


def caption_families(metas: Iterable[SampleMeta], top: int = 12) -> list[dict[str, Any]]:
    """The most frequent caption templates in ``metas`` with their origin, language and count."""
    counts: Counter[tuple[str, str, str]] = Counter()
    for meta in metas:
        for caption in meta.captions:
            counts[(caption_family(caption.text, meta, caption.language), caption.origin, caption.language)] += 1
    return [
        {"family": family, "origin": origin, "language": language, "captions": n}
        for (family, origin, language), n in counts.most_common(top)
    ]


PROMPT_OVERLAP_LIMIT = 0.5
"""A prompt sharing at least this share of its words with one training caption family is near training."""


def prompt_overlap(prompt_template: str, families: Iterable[dict[str, Any]], task: str) -> dict[str, Any]:
    """How close a zero-shot template (``A person talking in a {label} voice``) is to the training
    captions: the largest share of its distinct words that one caption family contains (label
    and transcript placeholders count as words, so ``{label}`` matches ``{emotion}``), that family,
    and ``near_training`` when the share reaches :data:`PROMPT_OVERLAP_LIMIT`."""
    prompt = set(words(prompt_template.replace("{label}", "{" + task + "}")))
    best: tuple[float, str] = (0.0, "")
    for family in families:
        share = len(prompt & set(words(family["family"]))) / max(len(prompt), 1)
        best = max(best, (share, family["family"]))
    return {
        "word_overlap": round(best[0], 3),
        "nearest_family": best[1],
        "near_training": best[0] >= PROMPT_OVERLAP_LIMIT,
    }


def prompt_seen_in_training(prompt_template: str, families: Iterable[dict[str, Any]], task: str) -> bool:
    """Whether a zero-shot template is near a training caption family by word overlap (:func:`prompt_overlap`)."""
    return bool(prompt_overlap(prompt_template, families, task)["near_training"])
