"""LibriSpeech ASR corpus (OpenSLR 12): read English audiobooks with transcripts and speaker sex.

Layout, as the ``*.tar.gz`` archives unpack (INPUT is ``LibriSpeech/`` or the folder holding it)::

    LibriSpeech/
      SPEAKERS.TXT                 ";" comments, then  ID | SEX | SUBSET | MINUTES | NAME
      <subset>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac
      <subset>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt   "<utt id> <UPPER-CASE TEXT>"

Subsets train-clean-100, train-clean-360, train-other-500 -> train; dev-* -> valid;
test-* -> test. The chapter transcript files are read by Beam in parallel.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

import apache_beam as beam
from apache_beam.io import fileio

from pipelines.sources.common import DatasetSource, failure, join, limit_items, read_text
from schemas import Failure, SourceItem, make_key
from schemas.vocab import GENDERS, normalize_gender

LICENSE = "CC BY 4.0 (LibriSpeech, Panayotov et al. 2015; LibriVox public-domain audiobooks)"


def subset_split(subset: str) -> str | None:
    return {"train": "train", "dev": "valid", "test": "test"}.get(subset.split("-")[0])


def sentence_case(text: str) -> str:
    """LibriSpeech's upper-case text as a sentence: ``HELLO I SAID`` -> ``Hello I said``."""
    words = text.lower().split()
    words = ["I" if w == "i" else "I'" + w[2:] if w.startswith("i'") else w for w in words]
    joined = " ".join(words)
    return joined[:1].upper() + joined[1:]


def parse_speakers(text: str) -> dict[str, dict[str, str]]:
    speakers = {}
    for line in text.splitlines():
        if line.startswith(";") or "|" not in line:
            continue
        fields = [f.strip() for f in line.split("|")]
        if len(fields) >= 3:
            speakers[fields[0]] = {
                "sex": fields[1],
                "subset": fields[2],
                "name": fields[-1] if len(fields) >= 5 else "",
            }
    return speakers


def chapter_records(path: str, speakers: dict[str, dict[str, str]]) -> Iterator[SourceItem | Failure]:
    """Items of one ``<speaker>-<chapter>.trans.txt`` file."""
    folder = posixpath.dirname(path)
    chapter_dir, speaker_dir, subset = folder, posixpath.dirname(folder), posixpath.dirname(posixpath.dirname(folder))
    speaker_folder, chapter_folder, subset = (
        posixpath.basename(speaker_dir),
        posixpath.basename(chapter_dir),
        posixpath.basename(subset),
    )
    for line in read_text(path).splitlines():
        if not line.strip():
            continue
        utt, _, words = line.strip().partition(" ")
        key = make_key("librispeech", utt)
        parts = utt.split("-")
        if len(parts) != 3 or parts[:2] != [speaker_folder, chapter_folder]:
            yield failure(key, "librispeech", "mislabelled", f"{utt} listed in {speaker_folder}/{chapter_folder}")
            continue
        speaker = speakers.get(parts[0], {})
        yield SourceItem(
            key=key,
            uri=join(folder, f"{utt}.flac"),
            dataset="librispeech",
            source_id=utt,
            language="en",
            transcript=sentence_case(words) or None,
            speaker_id=parts[0],
            gender=normalize_gender(speaker.get("sex")),
            labels=("speech",),
            split=subset_split(subset),
            license=LICENSE,
            extra={"subset": subset, "chapter": parts[1], "reader": speaker.get("name", "")},
        )


class LibriSpeechSource(DatasetSource):
    name = "librispeech"
    description = "LibriSpeech: English read speech (audiobooks) with transcripts and speaker sex"
    layout = "LibriSpeech/SPEAKERS.TXT + <subset>/<speaker>/<chapter>/{*.flac, <speaker>-<chapter>.trans.txt}"
    markers = ("SPEAKERS.TXT", "*/*/*/*.trans.txt")

    @classmethod
    def vocabulary(cls) -> dict[str, list[str]]:
        return {"language": ["en"], "gender": list(GENDERS)}

    def expand(self, pipeline: beam.Pipeline) -> beam.PCollection:
        speakers = parse_speakers(read_text(join(self.root, "SPEAKERS.TXT")))
        records = (
            pipeline
            | "librispeech chapters" >> fileio.MatchFiles(join(self.root, "*", "*", "*", "*.trans.txt"))
            | "librispeech paths" >> beam.Map(lambda m: m.path)
            | "librispeech reshuffle" >> beam.Reshuffle()
            | "librispeech utterances" >> beam.FlatMap(chapter_records, speakers)
        )
        return limit_items(records, self.settings.limit, "librispeech")
