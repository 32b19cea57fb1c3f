"""VocalSketch 1.0.x: crowd-sourced vocal imitations of sound concepts and the referent recordings
(Cartwright and Pardo 2015).

Layout, as the repository / Zenodo archive unpacks (INPUT holds it)::

    vocal_imitations.csv     id, filename, stimulus_type, included, draft, training, participant_id,
                             satisfaction, sound_label, sound_label_id, sound_recording,
                             sound_recording_id, audio_concept_subset, ...
    sound_recordings.csv     id, filename, sound_label, sound_label_id, audio_concept_subset
    participant_survey.csv   participant_id, age, gender (m / f), ...            (optional)
    vocal_imitations/included/<filename>   vocal_imitations/excluded/<filename>
      (older repository layout: included_vocal_imitations/, excluded_vocal_imitations/)
    sound_recordings/<filename>

``audio_concept_subset`` is one of "everyday sounds", "acoustic instruments", "commercial
synthesizers", "single synthesizer". The publisher does not redistribute the "everyday sounds"
recordings (they come from the Marcell et al. confrontation-naming set): a row of those whose
file is absent is not an error but is counted, as a ``not_redistributed`` record in the
failures and the dataset card's failures by reason. Imitations that met the authors' inclusion
criteria are read; drafts, training takes and rejected imitations are ``excluded_take`` records
(``--source-option excluded=true`` keeps the rejected final takes, never drafts or training).
An audio file in neither table is an ``unlisted_file`` record (the second collection,
``vocal_imitaitons_set2.csv``, whose ids the publisher's spreadsheet rounded, is not read). An
imitation is described as "a person vocally imitating <label>", a recording as "<label>".
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

from pipelines.sources.common import DatasetSource, any_match, glob, join, label_phrase, read_table
from schemas import Failure, SourceItem, make_key
from schemas.media import is_audio_path
from schemas.vocab import normalize_age_group, normalize_gender

LICENSE = "CC BY 4.0 (VocalSketch, Cartwright and Pardo 2015)"
NOT_REDISTRIBUTED = ("everyday sounds", "everyday")
TABLES = ("sound_recordings.csv", "vocal_imitations.csv")
IMITATION_FOLDERS = {
    True: ("vocal_imitations/included", "included_vocal_imitations"),
    False: ("vocal_imitations/excluded", "excluded_vocal_imitations"),
}


def truthy(value: str | None) -> bool:
    return str(value or "").strip().lower() in ("true", "1", "yes", "t")


class VocalSketchSource(DatasetSource):
    name = "vocalsketch"
    description = "VocalSketch: vocal imitations of sound concepts, and the imitated sound recordings"
    layout = (
        "vocal_imitations.csv + sound_recordings.csv + vocal_imitations/{included,excluded}/ "
        "(or {included,excluded}_vocal_imitations/) + sound_recordings/"
    )
    markers = ("vocal_imitations.csv", "sound_recordings.csv")

    def _participants(self) -> dict[str, dict[str, str]]:
        path = join(self.root, "participant_survey.csv")
        return {r.get("participant_id", ""): r for r in read_table(path)} if any_match(path) else {}

    def _audio_files(self) -> dict[str, str]:
        """Every audio file under the root by its path relative to the root."""
        base = self.root.rstrip("/")
        return {p[len(base) + 1 :]: p for p in glob(join(base, "**")) if is_audio_path(p)}

    def items(self) -> Iterator[SourceItem | Failure]:
        files = self._audio_files()
        yield from self._recordings(files)
        yield from self._imitations(files)
        listed = {r.get("filename", "") for t in TABLES for r in read_table(join(self.root, t))}
        for rel in sorted(files):
            if posixpath.basename(rel) not in listed:
                yield self.fail(
                    make_key("vocalsketch", "file", rel.rsplit(".", 1)[0]),
                    "unlisted_file",
                    f"{rel}: in neither {' nor '.join(TABLES)}",
                )

    def _recordings(self, files: dict[str, str]) -> Iterator[SourceItem | Failure]:
        by_name = {posixpath.basename(rel): path for rel, path in files.items() if rel.startswith("sound_recordings/")}
        for row in read_table(join(self.root, "sound_recordings.csv")):
            filename, label = row.get("filename", ""), row.get("sound_label", "")
            subset = row.get("audio_concept_subset", "")
            key = make_key("vocalsketch", "rec", row.get("id") or filename.rsplit(".", 1)[0])
            if not filename or not label:
                yield self.fail(
                    key, "bad_row", f"sound_recordings.csv row {row.get('id')} lacks filename or sound_label"
                )
                continue
            if filename not in by_name and subset.strip().lower() in NOT_REDISTRIBUTED:
                yield self.fail(
                    key,
                    "not_redistributed",
                    f"{filename}: '{subset}' recordings are not redistributed by the publisher "
                    "(see everyday_filename_translation.csv to add them)",
                )
                continue
            uri = by_name.get(filename) or self.safe_path(key, f"sound_recordings/{filename}")
            yield self.item(
                key=key,
                uri=uri,
                dataset="vocalsketch",
                source_id=f"recording/{filename}",
                labels=(label_phrase(label),),
                license=LICENSE,
                extra={"kind": "sound recording", "audio_concept_subset": subset, "sound_label": label},
            )

    def _imitations(self, files: dict[str, str]) -> Iterator[SourceItem | Failure]:
        participants, with_excluded = self._participants(), truthy(self.option.get("excluded"))
        for row in read_table(join(self.root, "vocal_imitations.csv")):
            filename, label = row.get("filename", ""), row.get("sound_label", "")
            included = truthy(row.get("included"))
            key = make_key("vocalsketch", "imi", row.get("id") or filename.rsplit(".", 1)[0])
            take = "draft" if truthy(row.get("draft")) else "training" if truthy(row.get("training")) else None
            if take or (not included and not with_excluded):
                why = f"a {take} take" if take else "not included by the publisher's criteria"
                yield self.fail(key, "excluded_take", f"{filename}: {why}")
                continue
            if not filename or not label:
                yield self.fail(
                    key, "bad_row", f"vocal_imitations.csv row {row.get('id')} lacks filename or sound_label"
                )
                continue
            folders = IMITATION_FOLDERS[included]
            found = next((files[f"{f}/{filename}"] for f in folders if f"{f}/{filename}" in files), None)
            uri = found or self.safe_path(key, f"{folders[0]}/{filename}")
            person = participants.get(row.get("participant_id", ""), {})
            yield self.item(
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
                    "audio_concept_subset": row.get("audio_concept_subset", ""),
                    "satisfaction": row.get("satisfaction", ""),
                    "included": included,
                },
            )
