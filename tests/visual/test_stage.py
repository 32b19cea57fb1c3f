"""VisualStage: video samples gain a fused caption and their raw frame captions; nothing else changes,
and no video, however broken, stops the shard."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipelines.options import config_from
from schemas import SAMPLE_RATE, Caption, SourceItem, make_key
from schemas.records import Segment
from tests.visual.conftest import encode, scene_image
from transforms.decode import DecodeStage
from transforms.describe import DescribeStage
from transforms.stage import Sample
from transforms.visual import VisualSettings, VisualStage, build_visual, check_visual
from transforms.visual.fuse import CaptionFuser
from transforms.visual.stage import is_video_item


def sample_for(uri: str, start_s: float = 0.0, duration_s: float = 6.0, name: str = "clip") -> Sample:
    item = SourceItem(
        key=make_key("t", name), uri=uri, dataset="test", source_id=name, language="en", transcript="hello there"
    )
    segment = Segment(source_key=item.key, index=0, start_s=start_s, duration_s=duration_s, transcript="hello there")
    captions = [Caption("A man saying 'hello there'", "en", "template"), Caption("hello there", "en", "transcript")]
    return Sample(
        item=item, audio=np.zeros(int(duration_s * SAMPLE_RATE), np.float32), segment=segment, captions=captions
    )


def visual_stage(tiny_coca: dict[str, str], **values) -> VisualStage:
    """The stage a build config with ``--visual`` (and ``values``) gets."""
    return build_visual(config_from({"visual": True, **tiny_coca, **values}))


@pytest.fixture(scope="module")
def stage(tiny_coca) -> VisualStage:
    stage = visual_stage(tiny_coca)
    stage.setup()
    return stage


def test_a_video_sample_gains_a_fused_visual_caption_and_keeps_raw_captions_with_times(stage, two_scene_video):
    [out], failures = stage.process([sample_for(str(two_scene_video))])
    assert failures == []
    visual = out.original_data["visual"]
    assert visual["status"] == "ok"
    assert [s["time_s"] for s in visual["scenes"]] == [0.0, 3.0]
    assert visual["scenes"][1]["ssim"] < 0.3 and all(s["caption"] for s in visual["scenes"])
    fused = out.captions[-1]
    assert (fused.origin, fused.language) == ("visual", "en")
    assert fused.text == visual["fused"] and visual["fusion"] == {"method": "template", "reason": "no_llm"}
    assert fused.text.endswith("Audio: A man saying 'hello there'")
    assert [c.origin for c in out.captions[:-1]] == ["template", "transcript"]  # earlier captions untouched


def test_a_segment_gets_the_scene_under_way_at_its_start_and_those_inside_it(stage, two_scene_video):
    late, early = sample_for(str(two_scene_video), 4.0, 2.0), sample_for(str(two_scene_video), 0.0, 2.5)
    out, _ = stage.process([late, early])
    late_scenes = out[0].original_data["visual"]["scenes"]
    assert [(s["time_s"], s["segment_time_s"]) for s in late_scenes] == [(3.0, 0.0)]
    assert [s["time_s"] for s in out[1].original_data["visual"]["scenes"]] == [0.0]


def test_raw_frame_captions_join_the_text_only_when_asked(tiny_coca, two_scene_video):
    stage = visual_stage(tiny_coca, **{"visual.raw_captions_in_text": True})
    [out], _ = stage.process([sample_for(str(two_scene_video))])
    assert [c.origin for c in out.captions] == ["template", "transcript", "visual", "visual", "visual"]


def test_captions_of_random_weights_are_recorded_but_never_text(tiny_coca_random, two_scene_video):
    """The offline stand-in (``make shards``' random CoCa): its output is kept, flagged, and left out."""
    sample = sample_for(str(two_scene_video))
    for raw in (False, True):
        stage = visual_stage(tiny_coca_random, **{"visual.raw_captions_in_text": raw})
        [out], failures = stage.process([sample])
        assert failures == [] and out.captions == sample.captions  # text untouched, raw captions or not
        visual = out.original_data["visual"]
        assert visual["status"] == "captions_withheld" and "fused" not in visual
        assert visual["weights"]["real"] is False and visual["weights"]["source"] == "random_init"
        assert [s["time_s"] for s in visual["scenes"]] == [0.0, 3.0] and all(s["caption"] for s in visual["scenes"])


def test_captions_of_weights_marked_real_are_text(stage, two_scene_video):
    [out], _ = stage.process([sample_for(str(two_scene_video))])
    visual = out.original_data["visual"]
    assert visual["weights"] == {"real": True, "source": "test:stands-in-for-trained"}
    assert out.captions[-1].origin == "visual" and out.captions[-1].text == visual["fused"]


def test_fusion_goes_through_the_llm_when_one_is_configured(tiny_coca, two_scene_video):
    answer = "As the picture cuts from one strange place to another, a man standing in view says 'hello there'."

    class FakeChat:
        def complete_many(self, chats):
            return [answer for _ in chats]

    stage = VisualStage(VisualSettings(**tiny_coca), fuser=CaptionFuser(FakeChat(), model="fake"))
    [out], _ = stage.process([sample_for(str(two_scene_video))])
    assert out.captions[-1].text == answer
    assert out.original_data["visual"]["fusion"]["method"] == "llm"


def test_samples_of_audio_items_pass_through_untouched(stage, tmp_path):
    import soundfile as sf

    wav = tmp_path / "speech.wav"
    sf.write(wav, np.zeros(16_000, np.float32), 16_000)
    samples = [sample_for(str(wav), name="wav"), sample_for("tts://en/m1/neutral?text=hi", name="tts")]
    out, failures = stage.process(samples)
    assert failures == [] and out == samples


@pytest.mark.parametrize(
    "reason", ["not_a_video", "no_video_stream", "no_video_frames", "truncated_mp4", "missing_file"]
)
def test_a_broken_video_keeps_its_audio_and_says_why(stage, bad_videos, reason):
    [out], failures = stage.process([sample_for(str(bad_videos[reason]), name=reason)])
    assert failures == []
    assert out.captions == sample_for(str(bad_videos[reason]), name=reason).captions
    expected = "not_a_video" if reason == "truncated_mp4" else reason  # its index sits in the cut-off end
    assert out.original_data["visual"]["status"] == "skipped"
    assert out.original_data["visual"]["reason"] == expected


def test_with_on_error_fail_a_broken_video_becomes_a_failure_record(tiny_coca, bad_videos):
    stage = visual_stage(tiny_coca, **{"visual.on_error": "fail"})
    out, failures = stage.process([sample_for(str(bad_videos["no_video_frames"]))])
    assert out == [] and [(f.stage, f.reason) for f in failures] == [("visual", "no_video_frames")]


def test_a_stream_damaged_midway_keeps_the_scenes_before_the_damage(stage, tmp_path):
    a, b = scene_image(1), scene_image(2)
    data = encode(lambda i: a if i < 30 else b, 90, fmt="matroska", audio_s=None)
    path = tmp_path / "damaged.mkv"
    path.write_bytes(data[: int(len(data) * 0.6)])
    [out], _ = stage.process([sample_for(str(path), duration_s=9.0)])
    visual = out.original_data["visual"]
    assert visual["status"] == "ok" and [s["time_s"] for s in visual["scenes"]] == [0.0, 3.0]
    assert visual["frames_sampled"] < 9


def test_an_audio_only_mp4_goes_the_audio_path_end_to_end(stage, bad_videos):
    item = SourceItem(
        key="t-audio", uri=str(bad_videos["no_video_stream"]), dataset="test", source_id="a", transcript="hi"
    )
    samples, decode_failures = DecodeStage().process_items([item])
    samples, _ = DescribeStage().process(samples)
    [out], failures = stage.process(samples)
    assert decode_failures == [] and failures == []
    assert out.original_data["visual"]["reason"] == "no_video_stream"
    assert not any(c.origin == "visual" for c in out.captions)


def test_demo_videos_go_through_decode_describe_visual(stage, demo_videos):
    samples, _ = DecodeStage().process_items(demo_videos[:2])
    samples, _ = DescribeStage().process(samples)
    out, failures = stage.process(samples)
    assert failures == [] and len(out) == 2
    for sample in out:
        cuts = sample.item.extra["video_cut_times_s"]
        times = [s["time_s"] for s in sample.original_data["visual"]["scenes"]]
        assert times[0] == 0.0 and len(times) == len(cuts) + 1
        assert all(abs(t - c) <= 1.0 for t, c in zip(times[1:], cuts, strict=True))
        assert sample.captions[-1].origin == "visual" and "Audio: A " in sample.captions[-1].text


def test_videos_are_recognised_by_extension_or_by_content(two_scene_video, tmp_path):
    hidden = tmp_path / "clip_without_extension"
    hidden.write_bytes(Path(two_scene_video).read_bytes())
    assert is_video_item(str(two_scene_video)) and is_video_item(str(hidden))
    assert not is_video_item("tts://en/m1/neutral?text=hi")


def test_flags_parse_into_settings_and_bad_settings_are_refused_before_work(tiny_coca):
    from pipelines.cli import _shards_parser, resolve_config

    args, _ = _shards_parser().parse_known_args(
        ["--visual", "--frame-fps", "2", "--ssim-threshold", "0.4", "--min-scene-s", "1.5", "--coca-batch-size", "4",
         "--coca-model", tiny_coca["coca_model"], "--coca-pretrained", tiny_coca["coca_pretrained"]]
    )  # fmt: skip
    config = resolve_config(args)
    check_visual(config)
    settings = config.visual
    assert (settings.frame_fps, settings.ssim_threshold, settings.min_scene_s, settings.coca_batch_size) == (
        2.0,
        0.4,
        1.5,
        4,
    )
    check_visual(config_from({"coca_model": "coca_ViT-X"}))  # --visual off: nothing to check
    assert build_visual(config_from({"coca_model": "coca_ViT-X"})) is None
    with pytest.raises(ValueError, match="unknown open_clip architecture"):
        check_visual(config_from({"visual": True, "coca_model": "coca_ViT-X"}))
    with pytest.raises(ValueError, match="checkpoint not found"):
        check_visual(config_from({"visual": True, "coca_pretrained": "/nowhere/coca.pt"}))
    with pytest.raises(ValueError, match="ssim-threshold"):
        config_from({"visual": True, "ssim_threshold": 2.0})


def test_a_demo_build_with_the_random_stand_in_puts_no_visual_caption_in_any_text(tiny_coca_random, tmp_path):
    """What ``make shards`` does offline (--demo-videos 1 --visual with a random CoCa checkpoint)."""
    import json
    import tarfile

    from pipelines.cli import main as clara

    args = [
        "shards",
        "--demo-items",
        "1",
        "--demo-videos",
        "1",
        "--visual",
        "--workers",
        "1",
        "--output",
        str(tmp_path),
    ]
    args += ["--coca-model", tiny_coca_random["coca_model"], "--coca-pretrained", tiny_coca_random["coca_pretrained"]]
    assert clara([*args, "--coca-decoding", "greedy"]) == 0
    samples = []
    for shard in sorted(tmp_path.glob("*/*/*.tar")):
        with tarfile.open(shard) as tar:
            samples += [json.load(tar.extractfile(m)) for m in tar.getmembers() if m.name.endswith(".json")]
    videos = [s for s in samples if "visual" in s["original_data"]]
    assert videos and len(samples) > len(videos)
    assert all(c["origin"] != "visual" and not c["text"].startswith("Scene:") for s in samples for c in s["captions"])
    for sample in videos:
        visual = sample["original_data"]["visual"]
        assert visual["status"] == "captions_withheld" and visual["weights"]["real"] is False
        assert visual["scene_count"] >= 1 and any(scene["caption"] for scene in visual["scenes"])
