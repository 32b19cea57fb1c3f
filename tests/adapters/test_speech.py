"""Speech corpora in their publishers' layouts: Common Voice, LibriSpeech, LJSpeech, CMU Arctic, MSWC."""

from __future__ import annotations

from tests.adapters.conftest import audio, build, text

CV_HEADER = "client_id\tpath\tsentence_id\tsentence\tsentence_domain\tup_votes\tdown_votes\tage\tgender\taccents\tvariant\tlocale\tsegment\n"


def cv_row(path: str, sentence: str, age: str = "", gender: str = "", client: str = "c1") -> str:
    return f"{client}\t{path}\tsid\t{sentence}\t\t2\t0\t{age}\t{gender}\tScottish English\t\ten\t\n"


def test_commonvoice_streams_the_tsvs_keeps_their_splits_and_speaker_metadata(tmp_path):
    locale = tmp_path / "cv-corpus-17.0-2024-03-15" / "en"
    for n in (1, 2, 3, 4):
        audio(locale / "clips" / f"common_voice_en_{n}.mp3")
    text(locale / "train.tsv", CV_HEADER + cv_row("common_voice_en_1.mp3", "Hello world", "twenties", "male_masculine"))
    text(locale / "dev.tsv", CV_HEADER + cv_row("common_voice_en_2.mp3", "Good morning", "sixties", "female_feminine"))
    text(locale / "test.tsv", CV_HEADER + cv_row("common_voice_en_9.mp3", "Not on disk"))
    text(
        locale / "validated.tsv",
        CV_HEADER
        + cv_row("common_voice_en_1.mp3", "Hello world", "twenties", "male_masculine")
        + cv_row("common_voice_en_3.mp3", "Only validated")
        + cv_row("../../escape.mp3", "escape"),
    )
    built = build("commonvoice", tmp_path / "cv-corpus-17.0-2024-03-15", tmp_path / "out", lang="en")

    one = built.meta("cv-en-common_voice_en_1")
    assert one["split"] == "train" and "A man in their twenties saying 'Hello world'" not in one["text"]
    assert "A man saying 'Hello world'" in one["text"]
    assert "An English-speaking man in their twenties" in one["text"]
    assert one["original_data"]["language"] == "en"
    two = built.meta("cv-en-common_voice_en_2")
    assert two["split"] == "valid" and "An elderly woman saying 'Good morning'" in two["text"]
    assert "cv-en-common_voice_en_3" in built.samples  # only in validated.tsv: hashed split
    assert "cv-en-common_voice_en_4" not in built.samples  # on disk but in no table
    reasons = built.reasons()
    assert reasons["cv-en-common_voice_en_9"] == "missing_file"
    assert reasons["cv-en-escape"] == "unsafe_path"


def test_commonvoice_limit_keeps_the_smallest_keys(tmp_path):
    locale = tmp_path / "en"
    for n in (1, 2, 3):
        audio(locale / "clips" / f"c{n}.mp3", seconds=0.2)
    text(locale / "validated.tsv", CV_HEADER + "".join(cv_row(f"c{n}.mp3", f"s {n}") for n in (3, 1, 2)))
    built = build("commonvoice", locale, tmp_path / "out", lang="en", limit=2)
    assert sorted(built.samples) == ["cv-en-c1", "cv-en-c2"]


def test_librispeech_reads_chapter_transcripts_speaker_sex_and_subset_splits(tmp_path):
    root = tmp_path / "LibriSpeech"
    text(
        root / "SPEAKERS.TXT",
        ";ID  |SEX| SUBSET           |MINUTES| NAME\n19   | F | train-clean-100  | 25.19 | Kara Shallenberg\n84   | M | dev-clean        | 8.02 | Christie Nowak\n",
    )
    audio(root / "train-clean-100" / "19" / "198" / "19-198-0000.flac")
    audio(root / "train-clean-100" / "19" / "198" / "19-198-0001.flac")
    text(
        root / "train-clean-100" / "19" / "198" / "19-198.trans.txt",
        "19-198-0000 NORTHANGER ABBEY I SAID\n19-198-0001 IT WAS EARLY\n84-121-0000 WRONG FOLDER\n",
    )
    audio(root / "dev-clean" / "84" / "121" / "84-121-0000.flac")
    text(
        root / "dev-clean" / "84" / "121" / "84-121.trans.txt", "84-121-0000 GO DO YOU HEAR\n84-121-0009 NOT ON DISK\n"
    )
    built = build("librispeech", tmp_path, tmp_path / "out")  # INPUT may be the folder holding LibriSpeech/

    first = built.meta("librispeech-19-198-0000")
    assert "A woman saying 'Northanger abbey I said'" in first["text"] and first["split"] == "train"
    assert "Northanger abbey I said" in first["text"]  # the transcript itself, origin transcript
    assert built.split("librispeech-84-121-0000") == "valid"
    assert "A man saying 'Go do you hear'" in built.texts("librispeech-84-121-0000")
    assert built.reasons() == {"librispeech-84-121-0000": "mislabelled", "librispeech-84-121-0009": "missing_file"}


def test_ljspeech_reads_pipe_separated_metadata(tmp_path):
    root = tmp_path / "LJSpeech-1.1"
    audio(root / "wavs" / "LJ001-0001.wav")
    audio(root / "wavs" / "LJ001-0002.wav")
    text(
        root / "metadata.csv",
        'LJ001-0001|Printing, in 1912, "the art"|Printing, in nineteen twelve, "the art"\nLJ001-0002|in being comparatively modern.|in being comparatively modern.\nLJ001-0003\n',
    )
    built = build("ljspeech", root, tmp_path / "out")
    meta = built.meta("ljspeech-LJ001-0001")
    assert "A woman saying 'Printing, in 1912, \"the art\"'" in meta["text"]
    assert meta["original_data"]["language"] == "en"
    assert built.reasons() == {"ljspeech-LJ001-0003": "bad_row"}
    assert len(built.samples) == 2


def test_cmu_arctic_reads_every_speaker_folder_with_sex_and_accent(tmp_path):
    for spk in ("slt", "awb"):
        folder = tmp_path / f"cmu_us_{spk}_arctic"
        audio(folder / "wav" / "arctic_a0001.wav")
        text(
            folder / "etc" / "txt.done.data",
            '( arctic_a0001 "Author of the danger trail, Philip Steels, etc." )\n( arctic_a0002 "Not on disk." )\nbroken line\n',
        )
    built = build("cmu-arctic", tmp_path, tmp_path / "out")
    assert "A woman saying 'Author of the danger trail, Philip Steels, etc.'" in built.texts("arctic-slt-arctic_a0001")
    assert "A man saying 'Author of the danger trail, Philip Steels, etc.'" in built.texts("arctic-awb-arctic_a0001")
    assert built.reasons() == {
        "arctic-slt-arctic_a0002": "missing_file",
        "arctic-awb-arctic_a0002": "missing_file",
        "arctic-slt-line3": "bad_row",
        "arctic-awb-line3": "bad_row",
    }


def test_mswc_reads_opus_keywords_with_splits_and_gender(tmp_path):
    audio(tmp_path / "de" / "clips" / "haus" / "common_voice_de_1.opus")
    audio(tmp_path / "de" / "clips" / "hund" / "common_voice_de_2.opus")
    text(
        tmp_path / "de_splits.csv",
        "SET,LINK,WORD,VALID,SPEAKER,GENDER\n"
        "TRAIN,haus/common_voice_de_1.opus,haus,True,spk1,FEMALE\n"
        "TEST,hund/common_voice_de_2.opus,hund,True,spk2,NAN\n"
        "DEV,katze/common_voice_de_3.opus,katze,True,spk3,MALE\n"
        "TRAIN,../../x.opus,x,True,spk4,MALE\n",
    )
    built = build("mswc", tmp_path, tmp_path / "out", lang="de")
    haus = built.meta("mswc-de-common_voice_de_1-haus")
    assert "A woman saying 'haus'" in haus["text"] and haus["split"] == "train"
    assert haus["original_data"]["language"] == "de"
    assert any(c["text"] == "haus" and c["language"] == "de" and c["origin"] == "transcript" for c in haus["captions"])
    assert built.split("mswc-de-common_voice_de_2-hund") == "test"
    assert built.reasons() == {"mswc-de-common_voice_de_3-katze": "missing_file", "mswc-de-x-x": "unsafe_path"}
