"""VocalSketch 1.0.x: crowd-sourced vocal imitations of sound concepts and the referent recordings
(Cartwright and Pardo 2015).

Layout, as the Zenodo archive unpacks (INPUT holds it)::

    vocal_imitations.csv     id, filename, stimulus_type, included, draft, training, participant_id,
                             satisfaction, sound_label, sound_label_id, sound_recording, ..., audio_concept_subset
    sound_recordings.csv     id, sound_label, sound_label_id, filename, audio_concept_subset
    participant_survey.csv   participant_id, age, gender, ...         (optional)
    vocal_imitations/included/<filename>   vocal_imitations/excluded/<filename>
    sound_recordings/[**/]<filename>       ('everyday' recordings are not redistributed)

Imitations that met the authors' inclusion criteria are read (``--source-option
excluded=true`` adds the others); drafts and training takes are skipped. An imitation is
described as "a person imitating <label>", a recording as "<label>".
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

from pipelines.sources.common import DatasetSource, any_match, glob, join, label_phrase, read_table
from schemas import Failure, SourceItem, make_key
from schemas.vocab import normalize_age_group, normalize_gender

LICENSE = "CC BY 4.0 (VocalSketch, Cartwright and Pardo 2015)"


def truthy(value: str | None) -> bool:
    return str(value or "").strip().lower() in ("true", "1", "yes", "t")


class VocalSketchSource(DatasetSource):
    name = "vocalsketch"
    description = "VocalSketch: vocal imitations of sound concepts, and the imitated sound recordings"
    layout = "vocal_imitations.csv + sound_recordings.csv + vocal_imitations/{included,excluded}/ + sound_recordings/"
    markers = ("vocal_imitations.csv", "sound_recordings.csv")

    def _participants(self) -> dict[str, dict[str, str]]:
        path = join(self.root, "participant_survey.csv")
        return {r.get("participant_id", ""): r for r in read_table(path)} if any_match(path) else {}

    def items(self) -> Iterator[SourceItem | Failure]:
        yield from self._recordings()
        yield from self._imitations()

    def _recordings(self) -> Iterator[SourceItem | Failure]:
        on_disk = {posixpath.basename(p): p for p in glob(join(self.root, "sound_recordings", "**"))}
        for row in read_table(join(self.root, "sound_recordings.csv")):
            filename, label = row.get("filename", ""), row.get("sound_label", "")
            key = make_key("vocalsketch", "rec", filename.rsplit(".", 1)[0] or row.get("id", ""))
            if row.get("audio_concept_subset") == "everyday" and filename not in on_disk:
                continue  # not redistributed: nothing to report
            if not filename or not label:
                yield self.fail(
                    key, "bad_row", f"sound_recordings.csv row {row.get('id')} lacks filename or sound_label"
                )
                continue
            uri = on_disk.get(filename) or self.safe_path(key, f"sound_recordings/{filename}")
            if isinstance(uri, Failure):
                yield uri
                continue
            yield SourceItem(
                key=key, uri=uri, dataset="vocalsketch", source_id=f"recording/{filename}",
                labels=(label_phrase(label),), license=LICENSE,
                extra={"kind": "sound recording", "audio_concept_subset": row.get("audio_concept_subset", "")},
            )  # fmt: skip

    def _imitations(self) -> Iterator[SourceItem | Failure]:
        participants, with_excluded = self._participants(), truthy(self.option.get("excluded"))
        for row in read_table(join(self.root, "vocal_imitations.csv")):
            filename, label = row.get("filename", ""), row.get("sound_label", "")
            included = truthy(row.get("included"))
            if truthy(row.get("draft")) or truthy(row.get("training")) or (not included and not with_excluded):
                continue
            key = make_key("vocalsketch", "imi", filename.rsplit(".", 1)[0] or row.get("id", ""))
            if not filename or not label:
                yield self.fail(
                    key, "bad_row", f"vocal_imitations.csv row {row.get('id')} lacks filename or sound_label"
                )
                continue
            uri = self.safe_path(key, f"vocal_imitations/{'included' if included else 'excluded'}/{filename}")
            if isinstance(uri, Failure):
                yield uri
                continue
            person = participants.get(row.get("participant_id", ""), {})
            yield SourceItem(
                key=key,
                uri=uri,
                dataset="vocalsketch",
                source_id=f"imitation/{filename}",
                speaker_id=row.get("participant_id") or None,
                gender=normalize_gender(person.get("gender")),
                age=normalize_age_group(person.get("age")),
                labels=(f"a person vocally imitating {label_phrase(label)}",),
                license=LICENSE,
                extra={
                    "kind": "vocal imitation",
                    "imitated": label,
                    "stimulus_type": row.get("stimulus_type", ""),
                    "included": included,
                },
            )
