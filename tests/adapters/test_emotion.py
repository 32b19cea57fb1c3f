"""Emotional speech corpora: CREMA-D, RAVDESS, EmoV-DB, EMNS, Berlin Emo-DB."""

from __future__ import annotations

from tests.adapters.conftest import audio, build, text


def test_crema_d_maps_sentence_emotion_and_intensity_codes_and_actor_demographics(tmp_path):
    root = tmp_path / "CREMA-D"
    audio(root / "AudioWAV" / "1001_IEO_ANG_HI.wav")
    audio(root / "AudioWAV" / "1002_DFA_NEU_XX.wav")
    audio(root / "AudioWAV" / "1002_XYZ_ANG_HI.wav")
    text(
        root / "VideoDemographics.csv",
        "ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n1002,21,Female,Caucasian,Not Hispanic\n",
    )
    built = build("crema-d", tmp_path, tmp_path / "out")
    assert "A man saying 'It's eleven o'clock' in an angry voice" in built.texts("cremad-1001_IEO_ANG_HI")
    woman = built.meta("cremad-1002_DFA_NEU_XX")
    assert "A woman saying 'Don't forget a jacket' in a neutral voice" in woman["text"]
    assert "An English-speaking woman in their twenties talking in a neutral voice" in woman["text"]
    assert built.reasons() == {"cremad-1002_XYZ_ANG_HI": "mislabelled"}


def test_ravdess_decodes_the_seven_fields_of_the_file_name(tmp_path):
    audio(tmp_path / "Actor_01" / "03-01-05-02-01-01-01.wav")  # speech, angry, strong, kids, actor 1 (male)
    audio(tmp_path / "Actor_12" / "03-02-03-01-02-01-12.wav")  # song, happy, dogs, actor 12 (female)
    audio(tmp_path / "Actor_12" / "02-01-03-01-02-01-12.mp4")  # video-only
    audio(tmp_path / "Actor_12" / "03-01-09-01-02-01-12.wav")  # emotion 09 does not exist
    audio(tmp_path / "Actor_12" / "03-01-03-01-02-01-13.wav")  # actor field disagrees with folder
    built = build("ravdess", tmp_path, tmp_path / "out")
    assert "A man saying 'Kids are talking by the door' in an angry voice" in built.texts(
        "ravdess-03-01-05-02-01-01-01"
    )
    song = built.meta("ravdess-03-02-03-01-02-01-12")
    assert (
        "A woman saying 'Dogs are sitting by the door' in a happy voice" in song["text"]
        and "The sound of singing" in song["text"]
    )
    assert built.reasons() == {
        "ravdess-02-01-03-01-02-01-12": "no_audio",
        "ravdess-03-01-09-01-02-01-12": "mislabelled",
        "ravdess-03-01-03-01-02-01-13": "mislabelled",
    }


def test_emov_db_reads_speaker_emotion_folders_and_arctic_sentences(tmp_path):
    audio(tmp_path / "bea_Amused" / "amused_1-15_0001.wav")
    audio(tmp_path / "sam" / "Angry" / "anger_1-28_0002.wav")  # the sorted variant
    audio(tmp_path / "bob_Angry" / "anger_1-28_0003.wav")
    text(
        tmp_path / "cmuarctic.data",
        '( arctic_a0001 "Author of the danger trail, Philip Steels, etc." )\n( arctic_a0002 "Not at this particular case, Tom, apologized Whittemore." )\n',
    )
    built = build("emov-db", tmp_path, tmp_path / "out")
    assert "A woman saying 'Author of the danger trail, Philip Steels, etc.' in a happy voice" in built.texts(
        "emovdb-bea-amused_1-15_0001"
    )
    assert "A man saying 'Not at this particular case, Tom, apologized Whittemore.' in an angry voice" in built.texts(
        "emovdb-sam-anger_1-28_0002"
    )
    assert built.reasons() == {"emovdb-bob-anger_1-28_0003": "mislabelled"}


def test_emns_also_reads_a_comma_separated_conversion_of_its_metadata(tmp_path):
    audio(tmp_path / "raw_webm" / "utt1.webm")
    text(
        tmp_path / "metadata.csv",
        "id,utterance,description,emotion,date_created,status,gender,age,level,audio_recording\n"
        "1,The dragon woke up.,Whispered with rising dread,Sarcastic,2022,done,Female,25,7,wavs/utt1.webm\n"
        "2,Gone.,Flat,Confused,2022,done,Female,25,3,wavs/utt2.webm\n",
    )
    built = build("emns", tmp_path, tmp_path / "out")
    meta = built.meta("emns-1")
    assert "A woman saying 'The dragon woke up.' in a sarcastic voice" in meta["text"]
    assert [c["text"] for c in meta["captions"] if c["origin"] == "human"] == ["Whispered with rising dread"]
    assert built.reasons() == {"emns-2": "mislabelled"}


def test_emodb_decodes_speaker_text_and_emotion_letters_in_german(tmp_path):
    audio(tmp_path / "wav" / "03a01Wa.wav")
    audio(tmp_path / "wav" / "08b10Tc.wav")
    audio(tmp_path / "wav" / "99a01Wa.wav")
    built = build("emodb", tmp_path, tmp_path / "out")
    man = built.meta("emodb-03a01Wa")
    assert "A man saying 'Der Lappen liegt auf dem Eisschrank.' in an angry voice" in man["text"]
    assert man["original_data"]["language"] == "de"
    assert any(c["language"] == "de" and c["origin"] == "transcript" for c in man["captions"])
    assert "A woman saying 'Die wird auf dem Platz sein, wo wir sie immer hinlegen.' in a sad voice" in built.texts(
        "emodb-08b10Tc"
    )
    assert built.reasons() == {"emodb-99a01Wa": "mislabelled"}
