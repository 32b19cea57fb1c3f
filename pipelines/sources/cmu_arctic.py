"""CMU ARCTIC: ~1,130 phonetically balanced English sentences per speaker (Festvox).

Layout, as each ``cmu_us_<spk>_arctic-0.95-release.tar.bz2`` unpacks (INPUT is one speaker's
folder or a folder holding several)::

    cmu_us_<spk>_arctic/
      wav/arctic_a0001.wav ...
      etc/txt.done.data       ( arctic_a0001 "Author of the danger trail, Philip Steels, etc." )

Every line of ``txt.done.data`` is one item (a line whose wav is absent is recorded as missing
by the decoder); a wav in ``wav/`` that no line names is a ``no_transcript`` failure, never
silently dropped.

Speakers and sex from the release notes: bdl, rms, jmk (Canadian), awb (Scottish), ksp (Indian)
male; slt, clb female (and the later speakers listed in ``SPEAKERS``). No official split.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator

from pipelines.sources.common import DatasetSource, any_match, glob, join, read_text, stem
from schemas import Failure, SourceItem, make_key

LICENSE = "Free use with attribution (CMU ARCTIC, Kominek and Black 2003, Carnegie Mellon University)"
SPEAKERS = {
    "bdl": ("male", "US"), "slt": ("female", "US"), "clb": ("female", "US"), "rms": ("male", "US"),
    "jmk": ("male", "Canadian"), "awb": ("male", "Scottish"), "ksp": ("male", "Indian"),
    "aew": ("male", "US"), "ahw": ("male", "German"), "aup": ("male", "Indian"), "axb": ("female", "Indian"),
    "eey": ("female", "US"), "fem": ("male", "US"), "gka": ("male", "Indian"), "ljm": ("female", "US"),
    "lnh": ("female", "US"), "rxr": ("male", "Dutch"), "slp": ("female", "Indian"),
}  # fmt: skip
LINE = re.compile(r'^\(\s*(\S+)\s+"(.*)"\s*\)\s*$')


class CMUArcticSource(DatasetSource):
    name = "cmu-arctic"
    description = "CMU ARCTIC: English read speech of US and accented speakers, with transcripts and sex"
    layout = "cmu_us_<spk>_arctic/{wav/arctic_*.wav, etc/txt.done.data} (one speaker folder or several)"
    markers = ("etc/txt.done.data", "wav/*.wav")

    @classmethod
    def locate(cls, input_root: str) -> str | None:
        base = (input_root or "").rstrip("/")
        if base and (super().locate(base) or glob(join(base, "*", "etc", "txt.done.data"))):
            return base
        return None

    @classmethod
    def vocabulary(cls) -> dict[str, list[str]]:
        return {"language": ["en"], "gender": ["male", "female"], "speaker": sorted(SPEAKERS)}

    def speaker_folders(self) -> list[str]:
        if any_match(join(self.root, "etc", "txt.done.data")):
            return [self.root]
        return [posixpath.dirname(posixpath.dirname(p)) for p in glob(join(self.root, "*", "etc", "txt.done.data"))]

    def items(self) -> Iterator[SourceItem | Failure]:
        for folder in self.speaker_folders():
            name = posixpath.basename(folder.rstrip("/"))
            match = re.match(r"cmu_\w+?_(\w+?)_arctic", name)
            speaker = match.group(1) if match else name
            gender, accent = SPEAKERS.get(speaker, ("unknown", ""))
            listed: set[str] = set()
            for number, line in enumerate(read_text(join(folder, "etc", "txt.done.data")).splitlines(), start=1):
                if not line.strip():
                    continue
                parsed = LINE.match(line.strip())
                if not parsed:
                    yield self.fail(
                        make_key("arctic", speaker, f"line{number}"),
                        "bad_row",
                        f"txt.done.data line {number}: {line[:80]!r}",
                    )
                    continue
                utt, sentence = parsed.groups()
                listed.add(utt)
                key = make_key("arctic", speaker, utt)
                uri = self.safe_path(key, f"wav/{utt}.wav", base=folder)
                yield self.item(
                    key=key,
                    uri=uri,
                    dataset="cmu-arctic",
                    source_id=f"{speaker}/{utt}",
                    language="en",
                    transcript=sentence,
                    speaker_id=speaker,
                    gender=gender,
                    labels=("speech",),
                    license=LICENSE,
                    extra={"accent": accent} if accent else {},
                )
            for path in glob(join(folder, "wav", "*.wav")):
                if stem(path) not in listed:
                    yield self.fail(
                        make_key("arctic", speaker, stem(path)),
                        "no_transcript",
                        f"{name}/wav/{posixpath.basename(path)} has no line in etc/txt.done.data",
                    )
