"""Speech and emotion corpora on trees in their publishers' real formats.

Headers and rows are the publishers' own (quoted in each fixture's comment); audio is generated.
"""

from __future__ import annotations

from tests.adapters.conftest import audio, build, source, text
from tests.adapters.test_speech import CV_HEADER, cv_row

# EMNS metadata.csv (OpenSLR 136) is pipe-separated; header and rows as nkululeko's
# data/emns/process_database.py reads them (pd.read_csv(..., delimiter="|")).
EMNS_HEADER = "id|utterance|description|emotion|date_created|status|gender|age|level|audio_recording|user_id\n"
EMNS_ROWS = (
    "454|There are two mechanisms to establish the germ cell lineage in the embryo.|With a {emotion} voice, "
    "{user_id} said {transcription}. Placing emphasis on {two} and {germ cell lineage}.|Sad|"
    "2022-07-18 14:40:50.160042|Complete|Female|20s|7|wavs/recorded_audio_3aCYrjz.webm|3\n"
    '72|"It is the first game in the ""Saints Row"" series."|{user_id} said {transcription} With a {emotion} voice.|'
    "Happy|2022-06-03 11:24:02.222086|Complete|Female|20s|4|wavs/recorded_audio_Mhiuz8D.webm|3\n"
    "613|Its council is based in Horsham.|{transcription} said {user_id} in a {emotion} voice. Placing emphasis on "
    "{Word} and {Word}.|Angry|2022-07-27 10:58:42.007804|Needs Updating|Female|20s|8|"
    "wavs/recorded_audio_l534MBl.webm|3\n"
)


def test_emns_reads_the_pipe_separated_metadata_and_fills_the_description_template(tmp_path):
    for name in ("3aCYrjz", "Mhiuz8D", "l534MBl"):
        audio(tmp_path / "raw_webm" / f"recorded_audio_{name}.webm")
    text(tmp_path / "metadata.csv", EMNS_HEADER + EMNS_ROWS)
    assert source("emns", tmp_path).locate(str(tmp_path)) == str(tmp_path)  # the pipe header is recognised
    built = build("emns", tmp_path, tmp_path / "out")
    sad = built.meta("emns-454")
    assert (
        "A woman saying 'There are two mechanisms to establish the germ cell lineage in the embryo.' in a sad voice"
        in sad["text"]
    )
    human = [c["text"] for c in sad["captions"] if c["origin"] == "human"]
    assert human == [
        "With a sad voice, a woman said 'There are two mechanisms to establish the germ cell lineage in the embryo.' "
        "Placing emphasis on 'two' and 'germ cell lineage'."
    ]
    assert sad["original_data"]["extra"]["emphasis"] == ["two", "germ cell lineage"]
    assert sad["original_data"]["age"] == "twenties" and sad["original_data"]["emotion_intensity"] == "7"
    happy = built.meta("emns-72")
    assert happy["original_data"]["transcript"] == 'It is the first game in the "Saints Row" series.'
    # "Needs Updating" rows still have placeholder emphasis ({Word}): no description caption.
    assert not [c for c in built.meta("emns-613")["captions"] if c["origin"] == "human"]
    assert built.failures == []


def test_commonvoice_keeps_the_age_of_speakers_in_their_fourties(tmp_path):
    locale = tmp_path / "en"
    audio(locale / "clips" / "common_voice_en_1.mp3")
    text(locale / "validated.tsv", CV_HEADER + cv_row("common_voice_en_1.mp3", "Hello world", "fourties", "male"))
    built = build("commonvoice", locale, tmp_path / "out", lang="en")
    meta = built.meta("cv-en-common_voice_en_1")
    assert meta["original_data"]["age"] == "forties"
    assert "An English-speaking man in their forties" in meta["text"]


def mswc_tree(root, rows: str):
    audio(root / "tt" / "clips" / "абзар" / "common_voice_tt_17737010.opus", seconds=0.2)
    audio(root / "tt" / "clips" / "абзац" / "common_voice_tt_17737010.opus", seconds=0.2)
    audio(root / "tt" / "clips" / "бала" / "common_voice_tt_17737011.opus", seconds=0.2)
    text(root / "tt_splits.csv", "SET,LINK,WORD,VALID,SPEAKER,GENDER\n" + rows)


# The Tatar clip of the Hugging Face card (MLCommons/ml_spoken_words) and two more keywords.
SPEAKER = "687025afd5ce033048472754c8d2cb1cf8a617e469866bbdb3746e2bb2194202094a715906f91feb1c546893a5d835347f4869e7def2e360ace6616fb4340e38"
MSWC_ROWS = (
    f"TRAIN,абзар/common_voice_tt_17737010.opus,абзар,TRUE,{SPEAKER},MALE\n"
    f"TRAIN,абзац/common_voice_tt_17737010.opus,абзац,TRUE,{SPEAKER},MALE\n"
    "DEV,бала/common_voice_tt_17737011.opus,бала,FALSE,NA,NAN\n"
)


def test_mswc_keeps_every_non_latin_keyword_of_a_clip_under_its_own_stable_key(tmp_path):
    mswc_tree(tmp_path, MSWC_ROWS)
    built = build("mswc", tmp_path, tmp_path / "out", lang="tt")
    keywords = sorted(m["original_data"]["extra"]["keyword"] for m in built.samples.values())
    assert keywords == ["абзар", "абзац"]  # two keywords of one clip: two samples, no duplicate_key
    assert "duplicate_key" not in built.reasons().values()
    again = build("mswc", tmp_path, tmp_path / "out2", lang="tt")
    assert sorted(again.samples) == sorted(built.samples)  # deterministic keys
    assert all(k.startswith("mswc-tt-common_voice_tt_17737010-u-") for k in built.samples)


def test_mswc_counts_rows_the_publisher_marks_invalid_instead_of_sharding_them(tmp_path):
    mswc_tree(tmp_path, MSWC_ROWS)
    built = build("mswc", tmp_path, tmp_path / "out", lang="tt")
    assert list(built.reasons().values()) == ["invalid_sample"]
    assert not any(m["original_data"]["extra"]["keyword"] == "бала" for m in built.samples.values())
    kept = build("mswc", tmp_path, tmp_path / "all", lang="tt", valid="all")
    flagged = [m for m in kept.samples.values() if m["original_data"]["extra"]["keyword"] == "бала"]
    assert len(flagged) == 1 and flagged[0]["original_data"]["extra"]["valid"] is False
    assert "speaker_id" not in flagged[0]["original_data"]  # "NA" is no speaker


def test_cmu_arctic_records_a_wav_without_a_transcript_line(tmp_path):
    folder = tmp_path / "cmu_us_slt_arctic"
    audio(folder / "wav" / "arctic_a0001.wav")
    audio(folder / "wav" / "arctic_b0539.wav")
    text(folder / "etc" / "txt.done.data", '( arctic_a0001 "Author of the danger trail, Philip Steels, etc." )\n')
    records = list(source("cmu-arctic", tmp_path).items())
    failures = {r.key: r.reason for r in records if not hasattr(r, "uri")}
    assert failures == {"arctic-slt-arctic_b0539": "no_transcript"}
    assert [r.key for r in records if hasattr(r, "uri")] == ["arctic-slt-arctic_a0001"]


def test_emov_db_reads_the_sorted_lower_case_download(tmp_path):
    audio(tmp_path / "bea" / "amused" / "amused_1-15_0001.wav")
    audio(tmp_path / "sam" / "sleepy" / "sleepiness_1-28_0002.wav")
    audio(tmp_path / "josh" / "neutral" / "readme.wav")
    text(tmp_path / "cmuarctic.data", '( arctic_a0001 "Author of the danger trail, Philip Steels, etc." )\n')
    src = source("emov-db", tmp_path)
    src.check()  # the sorted layout is recognised
    records = {r.key: r for r in src.items()}
    bea = records["emovdb-bea-amused_1-15_0001"]
    assert (bea.speaker_id, bea.gender, bea.emotion) == ("bea", "female", "happy")
    assert bea.transcript == "Author of the danger trail, Philip Steels, etc."
    sam = records["emovdb-sam-sleepiness_1-28_0002"]
    assert sam.emotion == "sleepy" and sam.extra["sentence_id"] == "arctic_a0002"
    assert records["emovdb-josh-readme"].reason == "mislabelled"


def test_emov_db_openslr_archives_and_sorted_download_give_the_same_keys(tmp_path):
    audio(tmp_path / "a" / "bea_Amused" / "amused_1-15_0001.wav")
    audio(tmp_path / "b" / "bea" / "amused" / "amused_1-15_0001.wav")
    keys = [[r.key for r in source("emov-db", tmp_path / d).items()] for d in ("a", "b")]
    assert keys[0] == keys[1] == ["emovdb-bea-amused_1-15_0001"]


def test_emodb_maps_boredom_to_bored_not_sleepy(tmp_path):
    audio(tmp_path / "wav" / "03a01La.wav")
    item = next(iter(source("emodb", tmp_path).items()))
    assert item.extra["emotion_label"] == "boredom"
    assert item.emotion == "bored"
