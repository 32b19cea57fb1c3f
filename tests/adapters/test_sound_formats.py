"""Sound, captioning and vocal-imitation corpora on trees in their publishers' real formats.

Headers and rows are the publishers' own (quoted from their repositories); audio is generated.
"""

from __future__ import annotations

from schemas import Failure, SourceItem, make_key
from tests.adapters.conftest import audio, build, source, text


def records(name: str, root, **options):
    out = list(source(name, root, **options).items())
    items = {r.key: r for r in out if isinstance(r, SourceItem)}
    failures = {r.key: r.reason for r in out if isinstance(r, Failure)}
    return items, failures


# ---------------------------------------------------------------- AudioCaps

# dataset/train.csv of cdjkim/audiocaps (first rows).
AUDIOCAPS_TRAIN = (
    "audiocap_id,youtube_id,start_time,caption\n"
    "91139,r1nicOVtvkQ,130,A woman talks nearby as water pours\n"
    "58146,UDGBjjwyaqE,20,Multiple clanging and clanking sounds\n"
)


def test_audiocaps_finds_audio_named_by_audiocap_id_as_audiocaps_download_writes_it(tmp_path):
    text(tmp_path / "dataset" / "train.csv", AUDIOCAPS_TRAIN)
    text(
        tmp_path / "dataset" / "val.csv",
        "audiocap_id,youtube_id,start_time,caption\n"
        "97151,vfY_TJq7n_U,130,Rustling occurs and ducks quack\n"
        "97152,vfY_TJq7n_U,130,Ducks quack while water splashes\n",
    )
    audio(tmp_path / "train" / "91139.ogg")  # audiocaps_download.Downloader: <split>/<audiocap_id>.<ext>
    audio(tmp_path / "val" / "97152.ogg")  # one copy per caption row; any of them will do
    audio(tmp_path / "train" / "UDGBjjwyaqE_20.wav")  # and the YouTube-id naming still works
    built = build("audiocaps", tmp_path, tmp_path / "out")
    assert built.texts("audiocaps-r1nicOVtvkQ-130") == ["A woman talks nearby as water pours"]
    assert built.split("audiocaps-r1nicOVtvkQ-130") == "train"
    assert built.texts("audiocaps-UDGBjjwyaqE-20") == ["Multiple clanging and clanking sounds"]
    val = built.meta("audiocaps-vfY_TJq7n_U-130")
    assert val["split"] == "valid" and len(val["text"]) == 2
    assert built.failures == []


# ---------------------------------------------------------------- Clotho


def test_clotho_decodes_its_latin1_metadata(tmp_path):
    audio(tmp_path / "development" / "Caf\u00e9 ambience.wav")
    captions = ",".join(f"caption_{i}" for i in range(1, 6))
    text(
        tmp_path / "clotho_captions_development.csv",
        f"file_name,{captions}\nCaf\u00e9 ambience.wav,People talk in a caf\u00e9,Cups clink,A crowd murmurs,Chairs scrape,Voices chatter\n",
    )
    (tmp_path / "clotho_metadata_development.csv").write_bytes(
        (
            "file_name,keywords,sound_id,sound_link,start_end_samples,manufacturer,license\n"
            "Caf\u00e9 ambience.wav,caf\u00e9;cr\u00e8me;ambience,123,https://freesound.org/people/x/sounds/123,"
            '"[0, 661500]",tascam,http://creativecommons.org/licenses/by/3.0/\n'
        ).encode("latin-1")
    )
    items, failures = records("clotho", tmp_path)
    item = items["clotho-dev-Caf_ambience"]
    assert item.extra["keywords"] == ["caf\u00e9", "cr\u00e8me", "ambience"]
    assert item.license == "http://creativecommons.org/licenses/by/3.0/" and failures == {}


# ---------------------------------------------------------------- VocalSketch

# vocal_imitations.csv, sound_recordings.csv, participant_survey.csv of interactiveaudiolab/VocalSketchDataSet.
VS_IMITATIONS = (
    "id,filename,stimulus_type,included,draft,training,participant_id,satisfaction,sound_label,sound_label_id,"
    "sound_recording,sound_recording_id,audio_concept_subset,participants_sound_recording_description,"
    "participants_sound_recording_description_confidence,description_match\n"
    "5742187530682368,subsynth 374 - 5742187530682368.wav,sound recording,False,True,False,5689413791121408,,"
    "subsynth 374,,subsynth_374.wav,4573161991438336,single synthesizer,,,\n"
    "5721941054849024,subsynth 2043 - 5721941054849024.wav,sound recording,True,False,False,5689413791121408,"
    "Somewhat satisfied,subsynth 2043,,subsynth_2043.wav,5964937016901632,single synthesizer,air lock release,"
    "Not so confident,\n"
    "6409536193691648,basketball - 6409536193691648.wav,sound recording,True,False,False,6433509090525184,"
    "Mostly satisfied,basketball,,basketball_dribbling.wav,5543135526518784,everyday sounds,bouncing basketball,"
    "Confident,True\n"
    "5701496339431424,violin - 5701496339431424.wav,sound label,False,False,False,6008864868663296,"
    "Somewhat dissatisfied,violin,5598049904623616,,,everyday sounds,,Very confident,\n"
)
VS_RECORDINGS = (
    "id,filename,sound_label,sound_label_id,audio_concept_subset\n"
    "4507473687871488,camera_capturing.wav,camera,6182228002340864,everyday sounds\n"
    "5964937016901632,subsynth_2043.wav,subsynth 2043,4514921698033664,single synthesizer\n"
    "4573161991438336,subsynth_374.wav,subsynth 374,4801343134892032,single synthesizer\n"
)
VS_SURVEY = (
    "participant_id,age,gender,hearing_problems,speech_problems,years_actively_using_music_tech,"
    "frequency_using_music_tech,years_actively_making_music,frequency_making_music,years_actively_singing,"
    "frequency_singing\n"
    "6433509090525184,25,f,False,False,10.0,Once or twice a month,10.0,Once or twice a month,0.0,Never\n"
)


def vocalsketch_tree(root, included_folder: str = "vocal_imitations/included"):
    text(root / "vocal_imitations.csv", VS_IMITATIONS)
    text(root / "sound_recordings.csv", VS_RECORDINGS)
    text(root / "participant_survey.csv", VS_SURVEY)
    audio(root / "sound_recordings" / "subsynth_2043.wav")
    audio(root / included_folder / "subsynth 2043 - 5721941054849024.wav")
    audio(root / included_folder / "basketball - 6409536193691648.wav")


def test_vocalsketch_counts_unredistributed_everyday_recordings_and_skips_drafts(tmp_path):
    vocalsketch_tree(tmp_path)
    built = build("vocalsketch", tmp_path, tmp_path / "out")
    assert built.texts("vocalsketch-rec-5964937016901632") == ["The sound of subsynth 2043"]
    ball = built.meta("vocalsketch-imi-6409536193691648")
    assert ball["text"] == ["The sound of a person vocally imitating basketball"] and "female" in ball["tag"]
    assert ball["original_data"]["age"] == "twenties"
    assert "vocalsketch-imi-5721941054849024" in built.samples
    assert built.reasons() == {
        "vocalsketch-rec-4507473687871488": "not_redistributed",  # 'everyday sounds': counted, not missing
        "vocalsketch-rec-4573161991438336": "missing_file",  # redistributed but absent: a real miss
        "vocalsketch-imi-5742187530682368": "excluded_take",  # a draft
        "vocalsketch-imi-5701496339431424": "excluded_take",  # not included by the publisher
    }


def test_vocalsketch_reads_the_older_repository_layout(tmp_path):
    vocalsketch_tree(tmp_path, included_folder="included_vocal_imitations")
    audio(tmp_path / "included_vocal_imitations" / "stapler - 4621961141420032.wav")  # a set-2 take: in no table
    items, failures = records("vocalsketch", tmp_path)
    assert failures[make_key("vocalsketch", "file", "included_vocal_imitations/stapler - 4621961141420032")] == (
        "unlisted_file"
    )
    assert items["vocalsketch-imi-6409536193691648"].uri.endswith(
        "included_vocal_imitations/basketball - 6409536193691648.wav"
    )
    assert "missing_file" not in failures.values()


# ---------------------------------------------------------------- Vocal Imitation Set

# vocal_imitations.txt of interactiveaudiolab/VocalImitationSet v1.1 (tab-separated, leading index column).
VIS_HEADER = (
    "\timitation_id\timitation_filename\tcategory_id\tcategory_d1\tcategory_d2\tcategory_d3\tcategory_d4\t"
    "category_d5\tcategory_d6\treference_filename\tincluded\tdraft\ttraining\tparticipant_id\tsatisfaction\t"
    "participants_sound_recording_description\tparticipants_sound_recording_description_confidence\n"
)
GROWL = "000Animal_Domestic animals_ pets_Cat_Growling"
HISS = "001Animal_Domestic animals_ pets_Cat_Hiss"
VIS_ROWS = (
    f"0\t0\t{GROWL}-4808870065078272.wav\t0\tAnimal\tDomestic animals, pets\tCat\tGrowling\t\t\t{GROWL}_reference.wav\t"
    "True\tFalse\tFalse\t5734240000000000.0\tCompletely satisfied\tI do try my best.\tConfident\n"
    f"2\t2\t{GROWL}-4904330813505536.wav\t0\tAnimal\tDomestic animals, pets\tCat\tGrowling\t\t\t{GROWL}_reference.wav\t"
    "False\tTrue\tFalse\t6286100000000000.0\t\t\t\n"
    f"10\t10\t{GROWL}-5498179298525184.wav\t0\tAnimal\tDomestic animals, pets\tCat\tGrowling\t\t\t{GROWL}_reference.wav\t"
    "False\tFalse\tTrue\t5742960000000000.0\tSomewhat satisfied\tThere was a lion\tConfident\n"
    f"36\t36\t{GROWL}-6281482012196864.wav\t0\tAnimal\tDomestic animals, pets\tCat\tGrowling\t\t\t{GROWL}_reference.wav\t"
    "False\tFalse\tFalse\t5167240000000000.0\tSomewhat satisfied\tI just use my mouth not anything else.\tNeutral\n"
    f"43\t43\t{HISS}-4827039924224000.wav\t1\tAnimal\tDomestic animals, pets\tCat\tHiss\t\t\t{HISS}_reference.wav\t"
    "True\tFalse\tFalse\t5724160000000000.0\tCompletely satisfied\tblowing\tConfident\n"
)
# original_recordings_classes.txt (tab-separated, TRUE/FALSE, quoted ontology names).
VIS_CLASSES = (
    "filename\tclassname\tcategory_d1\tcategory_d2\tcategory_d3\tcategory_d4\tcategory_d5\tcategory_d6\t"
    "is_reference\tmulti_labeled\n"
    f'{GROWL}_reference.wav\t{GROWL}\tAnimal\t"Domestic animals, pets"\tCat\tGrowling\t\t\tTRUE\tFALSE\n'
    f'277515__gezortenplotz__cat-growl-edit.wav\t{GROWL}\tAnimal\t"Domestic animals, pets"\tCat\tGrowling\t\t\tFALSE\tFALSE\n'
    f'277515__gezortenplotz__cat-growl-edit.wav\t{HISS}\tAnimal\t"Domestic animals, pets"\tCat\tHiss\t\t\tFALSE\tFALSE\n'
)


def test_vocal_imitation_set_reads_its_tab_separated_tables_and_ontology_labels(tmp_path):
    text(tmp_path / "vocal_imitations.txt", VIS_HEADER + VIS_ROWS)
    text(tmp_path / "original_recordings_classes.txt", VIS_CLASSES)
    audio(tmp_path / "vocal_imitations" / "included" / f"{GROWL}-4808870065078272.wav")
    audio(tmp_path / "vocal_imitations" / "included" / f"{HISS}-4827039924224000.wav")
    for n in ("4904330813505536", "5498179298525184", "6281482012196864"):
        audio(tmp_path / "vocal_imitations" / "excluded" / f"{GROWL}-{n}.wav")
    audio(tmp_path / "original_recordings" / "reference" / f"{GROWL}_reference.wav")
    audio(tmp_path / "vocal_imitations" / "included" / "stray.wav")  # in no table: accounted for, not dropped
    for cls in (GROWL, HISS):
        audio(tmp_path / "original_recordings" / "non_reference" / cls / "277515__gezortenplotz__cat-growl-edit.wav")
    built = build("vocal-imitation", tmp_path, tmp_path / "out")
    assert built.texts("vis-imi-0") == ["The sound of a person vocally imitating cat growling"]
    assert built.texts("vis-imi-43") == ["The sound of a person vocally imitating cat hiss"]
    ref = built.meta(make_key("vis", "rec", "000", f"{GROWL}_reference"))
    assert ref["text"] == ["The sound of cat growling"]
    assert ref["original_data"]["extra"]["ontology"] == "Animal > Domestic animals, pets > Cat > Growling"
    # One Freesound file serving two classes is two samples, one per class.
    assert built.texts("vis-rec-001-277515__gezortenplotz__cat-growl-edit") == ["The sound of cat hiss"]
    assert "vis-rec-000-277515__gezortenplotz__cat-growl-edit" in built.samples
    assert built.reasons() == {
        "vis-imi-2": "excluded_take",
        "vis-imi-10": "excluded_take",
        "vis-imi-36": "excluded_take",
        "vis-file-vocal_imitations_included_stray": "unlisted_file",
    }
    assert not any("reference" == t or "included" in t for m in built.samples.values() for t in m["text"])


def test_vocal_imitation_set_reads_the_v1_0_layout(tmp_path):
    text(tmp_path / "vocal_imitations.txt", VIS_HEADER + VIS_ROWS)
    # reference_audio_categories.txt of the v1.0 release (tab-separated, leading index column).
    text(
        tmp_path / "reference_audio_categories.txt",
        "\tcategory_id\tcategory_d1\tcategory_d2\tcategory_d3\tcategory_d4\tcategory_d5\tcategory_d6\treference_filename\n"
        f"0\t0\tAnimal\tDomestic animals, pets\tCat\tGrowling\t\t\t{GROWL}_reference.wav\n",
    )
    audio(tmp_path / "included" / f"{GROWL}-4808870065078272.wav")
    audio(tmp_path / "reference_recordings" / f"{GROWL}_reference.wav")
    items, failures = records("vocal-imitation", tmp_path)
    assert items["vis-imi-0"].uri.endswith(f"included/{GROWL}-4808870065078272.wav")
    assert items["vis-imi-0"].labels == ("a person vocally imitating cat growling",)
    rec = items[make_key("vis", "rec", "000", f"{GROWL}_reference")]
    assert rec.uri.endswith(f"reference_recordings/{GROWL}_reference.wav") and rec.labels == ("cat growling",)
    assert set(failures.values()) == {"excluded_take"}
