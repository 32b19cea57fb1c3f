"""Sound-event and captioning corpora: ESC-50, UrbanSound8K, Clotho, AudioCaps, AudioSet, VGGSound."""

from __future__ import annotations

from tests.adapters.conftest import audio, build, text


def test_esc50_turns_classes_into_phrases_and_folds_into_splits(tmp_path):
    root = tmp_path / "ESC-50-master"
    audio(root / "audio" / "1-100032-A-0.wav")
    audio(root / "audio" / "5-200032-A-1.wav")
    text(
        root / "meta" / "esc50.csv",
        "filename,fold,target,category,esc10,src_file,take\n"
        "1-100032-A-0.wav,1,0,dog,True,100032,A\n"
        "5-200032-A-1.wav,5,1,rooster,False,200032,A\n"
        "2-300000-A-3.wav,2,4,frog,False,300000,A\n"
        "3-400000-A-5.wav,3,5,cat,False,400000,A\n",
    )
    built = build("esc50", tmp_path, tmp_path / "out")
    dog = built.meta("esc50-1-100032-A-0")
    assert dog["text"] == ["The sound of a dog barking"] and dog["split"] == "train"
    assert built.meta("esc50-5-200032-A-1")["split"] == "test"
    assert built.reasons() == {"esc50-2-300000-A-3": "mislabelled", "esc50-3-400000-A-5": "missing_file"}


def test_urbansound8k_reads_fold_folders_and_class_ids(tmp_path):
    root = tmp_path / "UrbanSound8K"
    audio(root / "audio" / "fold1" / "100032-3-0-0.wav")
    audio(root / "audio" / "fold10" / "100263-2-0-117.wav")
    text(
        root / "metadata" / "UrbanSound8K.csv",
        "slice_file_name,fsID,start,end,salience,fold,classID,class\n"
        "100032-3-0-0.wav,100032,0.0,0.317551,1,1,3,dog_bark\n"
        "100263-2-0-117.wav,100263,58.5,62.5,2,10,2,children_playing\n"
        "100648-1-0-0.wav,100648,4.8,5.6,2,10,7,car_horn\n",
    )
    built = build("urbansound8k", root, tmp_path / "out")
    assert built.texts("us8k-100032-3-0-0") == ["The sound of a dog barking"]
    assert built.split("us8k-100032-3-0-0") == "train" and built.split("us8k-100263-2-0-117") == "test"
    assert built.reasons() == {"us8k-100648-1-0-0": "mislabelled"}


def test_clotho_keeps_all_five_captions_and_maps_its_splits(tmp_path):
    audio(tmp_path / "development" / "Santa Motor.wav")
    audio(tmp_path / "evaluation" / "rain.wav")
    captions = ",".join(f"caption_{i}" for i in range(1, 6))
    text(
        tmp_path / "clotho_captions_development.csv",
        f"file_name,{captions}\nSanta Motor.wav,A motor hums,An engine runs,A car idles,Machinery whirs,An engine hums loudly\n",
    )
    text(
        tmp_path / "clotho_captions_evaluation.csv",
        f'file_name,{captions}\nrain.wav,"Rain falls, steadily",Rain,Water drops,Rain on a roof,Heavy rain\nlost.wav,a,b,c,d,e\n',
    )
    text(
        tmp_path / "clotho_metadata_development.csv",
        "file_name,keywords,sound_id,sound_link,start_end_samples,manufacturer,license\nSanta Motor.wav,motor;engine,1234,https://freesound.org/x,,,CC BY 3.0\n",
    )
    built = build("clotho", tmp_path, tmp_path / "out")
    motor = built.meta("clotho-dev-Santa_Motor")
    assert [c["text"] for c in motor["captions"] if c["origin"] == "human"] == [
        "A motor hums",
        "An engine runs",
        "A car idles",
        "Machinery whirs",
        "An engine hums loudly",
    ]
    assert motor["split"] == "train" and built.split("clotho-eva-rain") == "test"
    assert "Rain falls, steadily" in built.texts("clotho-eva-rain")
    assert built.reasons() == {"clotho-eva-lost": "missing_file"}


def test_audiocaps_joins_captions_with_audio_downloaded_by_youtube_id(tmp_path):
    text(
        tmp_path / "dataset" / "train.csv",
        "audiocap_id,youtube_id,start_time,caption\n1,abcdefghijk,30,A dog barks\n2,notdownload,0,Wind\n",
    )
    text(
        tmp_path / "dataset" / "val.csv",
        "audiocap_id,youtube_id,start_time,caption\n5,Zyxwvutsrqp,0,Rain falls\n6,Zyxwvutsrqp,0,Water drips on a roof\n",
    )
    audio(tmp_path / "audio" / "train" / "Yabcdefghijk.wav")
    audio(tmp_path / "audio" / "val" / "Zyxwvutsrqp_0.m4a")
    built = build("audiocaps", tmp_path, tmp_path / "out")
    assert (
        built.texts("audiocaps-abcdefghijk-30") == ["A dog barks"]
        and built.split("audiocaps-abcdefghijk-30") == "train"
    )
    val = built.meta("audiocaps-Zyxwvutsrqp-0")
    assert val["text"] == ["Rain falls", "Water drips on a roof"] and val["split"] == "valid"
    assert built.reasons() == {"audiocaps-notdownload-0": "missing_file"}


def test_audioset_reads_segment_csvs_and_names_labels_from_the_ontology(tmp_path):
    header = "# Segments csv created Sun Mar  5 10:54:31 2017\n# num_ytids=2, num_segs=2\n# YTID, start_seconds, end_seconds, positive_labels\n"
    text(
        tmp_path / "balanced_train_segments.csv",
        header + '--PJHxphWEs, 30.000, 40.000, "/m/0bt9lr,/m/05tny_"\n-0RWZT-miFs, 420.000, 430.000, "/m/09x0r"\n',
    )
    text(
        tmp_path / "eval_segments.csv",
        header + '-1nilez17Dg, 0.000, 10.000, "/m/zzzz"\nmissingclip, 0.000, 10.000, "/m/09x0r"\n',
    )
    text(
        tmp_path / "class_labels_indices.csv",
        'index,mid,display_name\n0,/m/09x0r,"Speech"\n1,/m/0bt9lr,"Dog"\n2,/m/05tny_,"Bark"\n',
    )
    audio(tmp_path / "audio" / "Y--PJHxphWEs_30.000_40.000.wav")
    audio(tmp_path / "audio" / "-0RWZT-miFs.flac")
    audio(tmp_path / "audio" / "-1nilez17Dg.wav")
    built = build("audioset", tmp_path, tmp_path / "out")
    dog = built.meta("audioset---PJHxphWEs-30")
    assert dog["text"] == ["The sound of dog and bark"] and dog["split"] == "train"
    assert built.texts("audioset--0RWZT-miFs-420") == ["The sound of a person speaking"]
    assert built.reasons() == {"audioset--1nilez17Dg-0": "mislabelled", "audioset-missingclip-0": "missing_file"}


def test_vggsound_pairs_each_row_with_its_video_clip(tmp_path):
    text(
        tmp_path / "vggsound.csv",
        "---g-f_I2yQ,1,people marching,test\n---g-f_I2yQ,30,people marching,train\n--0PQM4-hqg,30,waterfall burbling,train\n",
    )
    audio(tmp_path / "video" / "---g-f_I2yQ_000001.mp4")
    audio(tmp_path / "video" / "---g-f_I2yQ_000030.mp4")
    built = build("vggsound", tmp_path, tmp_path / "out")
    assert built.texts("vggsound----g-f_I2yQ-000001") == ["The sound of people marching"]
    assert (
        built.split("vggsound----g-f_I2yQ-000001") == "test" and built.split("vggsound----g-f_I2yQ-000030") == "train"
    )
    assert built.reasons() == {"vggsound---0PQM4-hqg-000030": "missing_file"}


def test_fsd50k_reads_multi_labels_splits_and_per_clip_licenses(tmp_path):
    gt = tmp_path / "FSD50K.ground_truth"
    text(
        gt / "dev.csv",
        'fname,labels,mids,split\n64760,"Bark,Dog","/m/05tny_,/m/0bt9lr",train\n16399,"Rain",/m/06mb1,val\n',
    )
    text(gt / "eval.csv", 'fname,labels,mids\n37199,"Electric_guitar,Guitar",/m/02sgy,/m/0342h\n99999,,\n')
    text(gt / "vocabulary.csv", "0,Bark,/m/05tny_\n1,Dog,/m/0bt9lr\n")
    text(
        tmp_path / "FSD50K.metadata" / "dev_clips_info_FSD50K.json",
        '{"64760": {"title": "dog.wav", "license": "http://creativecommons.org/licenses/by/3.0/", "uploader": "x", "tags": ["dog"]}}',
    )
    audio(tmp_path / "FSD50K.dev_audio" / "64760.wav")
    audio(tmp_path / "FSD50K.dev_audio" / "16399.wav")
    audio(tmp_path / "FSD50K.eval_audio" / "37199.wav")
    built = build("fsd50k", tmp_path, tmp_path / "out")
    dog = built.meta("fsd50k-dev-64760")
    assert dog["text"] == ["The sound of bark and dog"] and dog["split"] == "train"
    assert built.split("fsd50k-dev-16399") == "valid" and built.split("fsd50k-eval-37199") == "test"
    assert built.texts("fsd50k-eval-37199") == ["The sound of electric guitar and guitar"]
    assert built.reasons() == {"fsd50k-eval-99999": "bad_row"}


def test_macs_keeps_every_annotators_sentence_and_their_tags(tmp_path):
    audio(tmp_path / "TAU-urban-acoustic-scenes-2019-development" / "audio" / "airport-lisbon-1000-40000-a.wav")
    text(
        tmp_path / "MACS.yaml",
        "files:\n"
        "- filename: airport-lisbon-1000-40000-a.wav\n"
        "  annotations:\n"
        "  - annotator_id: 1\n    sentence: adults talking and footsteps\n    tags: [adults_talking, footsteps]\n"
        "  - annotator_id: 2\n    sentence: people chatting in a hall\n    tags: [adults_talking]\n"
        "- filename: park-helsinki-1-1-a.wav\n"
        "  annotations:\n  - annotator_id: 3\n    sentence: birds\n    tags: [birds_singing]\n"
        "- filename: ../escape.wav\n"
        "  annotations:\n  - annotator_id: 3\n    sentence: x\n    tags: []\n",
    )
    built = build("macs", tmp_path, tmp_path / "out")
    meta = built.meta("macs-airport-lisbon-1000-40000-a")
    assert [c["text"] for c in meta["captions"] if c["origin"] == "human"] == [
        "adults talking and footsteps",
        "people chatting in a hall",
    ]
    assert "The sound of adults talking and footsteps" in meta["text"]
    assert built.reasons() == {"macs-park-helsinki-1-1-a": "missing_file", "macs-_escape": "unsafe_path"}
