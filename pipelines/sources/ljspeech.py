"""LJ Speech 1.1: one female speaker reading English non-fiction, with transcripts.

Layout, as ``LJSpeech-1.1.tar.bz2`` unpacks (INPUT is ``LJSpeech-1.1/`` or the folder holding it)::

    LJSpeech-1.1/
      metadata.csv     "LJ001-0001|<transcription>|<normalized transcription>", no header, '|'-separated
      wavs/LJ001-0001.wav

The transcription (as read, with numerals) becomes the transcript; the normalized one (numbers
and abbreviations spelled out) is kept in ``extra``. No official split: splits are hashed.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator

from pipelines.sources.common import DatasetSource, join, read_text
from schemas import Failure, SourceItem, make_key

LICENSE = "Public domain (LJ Speech Dataset, Keith Ito and Linda Johnson 2017; LibriVox recordings)"


class LJSpeechSource(DatasetSource):
    name = "ljspeech"
    description = "LJ Speech: 13,100 clips of one female speaker reading English, with transcripts"
    layout = "LJSpeech-1.1/metadata.csv (id|text|normalized) + wavs/<id>.wav"
    markers = ("metadata.csv", "wavs/*.wav")

    @classmethod
    def vocabulary(cls) -> dict[str, list[str]]:
        return {"language": ["en"], "gender": ["female"]}

    def items(self) -> Iterator[SourceItem | Failure]:
        lines = read_text(join(self.root, "metadata.csv")).splitlines()
        for number, fields in enumerate(csv.reader(lines, delimiter="|", quoting=csv.QUOTE_NONE), start=1):
            if not fields:
                continue
            clip_id = fields[0].strip()
            key = make_key("ljspeech", clip_id or f"row{number}")
            if len(fields) < 2 or not clip_id or not fields[1].strip():
                yield self.fail(key, "bad_row", f"metadata.csv line {number}: expected id|transcription|normalized")
                continue
            uri = self.safe_path(key, f"wavs/{clip_id}.wav")
            yield self.item(
                key=key,
                uri=uri,
                dataset="ljspeech",
                source_id=clip_id,
                language="en",
                transcript=fields[1].strip(),
                speaker_id="LJ",
                gender="female",
                labels=("speech",),
                license=LICENSE,
                extra={"normalized_transcript": fields[2].strip() if len(fields) > 2 else ""},
            )
