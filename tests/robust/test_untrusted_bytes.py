"""One boundary for untrusted bytes: noise files and video frames are decoded in the decode child.

A noise folder holding decoder bombs beside a good clip, and videos whose frames are past the caps
(10,000 frames of 8192x8192; 12,000 frames in about a second) beside a good video and a good
speech file, through ``--augment noise --noise-source folder`` and ``--visual`` with 2 workers:
the job exits 0, the good items land (with noise from the good clip), each bomb is a failure with
its reason (the noise files in the run's failures and card, the videos' frames in their samples'
``original_data['visual']`` while their audio lands), and the process tree stays under 4 GB.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.robust import hostile
from tests.robust.test_folder_hostile import Watchdog, _failures, _samples
from tests.visual.conftest import TINY_COCA
from transforms.audio import AudioError
from transforms.decode_worker import DecodeWorker
from transforms.noise_bank import NoiseDecoding, load_labelled_uris
from transforms.visual.frames import FrameSettings, SceneScan, VideoError, scan_video

RSS_LIMIT = 4 << 30
WALL_LIMIT_S = 170.0
NOISE_BOMBS = {
    "constant.flac": lambda: hostile.constant_flac(2.9 * 3600),
    "tiny_packets.opus": lambda: hostile.tiny_packet_opus(2 * 3600),
    "replayed.m4a": lambda: hostile.replayed_frame_m4a(200_000),
}
NOISE_REASONS = {"too_long", "suspicious_expansion", "decode_memory", "decode_timeout"}
VIDEO_BOMBS = {  # name: (bytes, the reason its frames are refused with)
    "huge_frames": (lambda: hostile.replayed_frame_video(8192, 8192, 10_000), "video_too_large"),
    "many_frames": (lambda: hostile.replayed_frame_video(64, 64, 12_000, frame_ticks=1), "too_many_frames"),
}


def _noise_clip(seconds: float = 1.0) -> bytes:
    noise = 0.1 * np.random.default_rng(0).standard_normal(int(seconds * 48_000))
    return hostile.encoded(noise.astype(np.float32), 48_000, "WAV", "PCM_16")


@pytest.fixture(scope="module")
def huge_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("video") / "huge_frames.mp4"
    path.write_bytes(VIDEO_BOMBS["huge_frames"][0]())
    return path


@pytest.mark.slow
def test_bombs_in_the_noise_folder_and_videos_past_the_frame_caps_fail_with_reasons_while_the_job_stays_small(
    tmp_path: Path, huge_video: Path
) -> None:
    coca = tmp_path / "coca_tiny_bombs.json"  # the visual tests' tiny CoCa, with random weights
    coca.write_text(json.dumps(TINY_COCA))
    items, noise = tmp_path / "in", tmp_path / "noise"
    (noise / "hiss").mkdir(parents=True)
    items.mkdir()
    (items / "speech.wav").write_bytes(hostile.encoded(hostile.speech_like(2.0, 44_100), 44_100, "WAV", "PCM_16"))
    (items / "speech.txt").write_text("a tone that comes and goes")
    (items / "good_video.mp4").write_bytes(hostile.one_frame_video(96, 64, audio_s=1.5))
    (items / "huge_frames.mp4").write_bytes(huge_video.read_bytes())
    (items / "many_frames.mp4").write_bytes(VIDEO_BOMBS["many_frames"][0]())
    (noise / "hiss" / "1.wav").write_bytes(_noise_clip())
    for name, make in NOISE_BOMBS.items():
        (noise / name).write_bytes(make())
    assert sum(f.stat().st_size for f in tmp_path.rglob("*") if f.is_file()) < 2 << 20  # tiny on disk
    out = tmp_path / "out"
    command = [
        sys.executable, "-m", "pipelines.cli", "shards", "--source", "folder", "--input", str(items),
        "--output", str(out), "--name", "bombs", "--runner", "direct", "--workers", "2",
        "--augment", "noise", "--noise-source", "folder", "--noise-input", str(noise),
        "--visual", "--coca-model", str(coca), "--coca-pretrained", "none", "--coca-decoding", "greedy",
    ]  # fmt: skip
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    watchdog = Watchdog(proc, RSS_LIMIT, WALL_LIMIT_S)
    watchdog.start()
    log, _ = proc.communicate()
    watchdog.join()
    print(f"\npeak RSS of the process tree: {watchdog.peak / 2**30:.2f} GiB")
    assert not watchdog.killed, f"killed by the watchdog ({watchdog.killed})\n{log[-3000:]}"
    assert proc.returncode == 0, log[-3000:]
    assert watchdog.peak < RSS_LIMIT

    samples, failures = _samples(out), _failures(out)
    for name in ("speech", "good_video", *VIDEO_BOMBS):
        assert f"folder-{name}" in samples, (name, failures.get(f"folder-{name}"))
    augmented = [m for m in _all_samples(out) if m["augmentations"]]
    assert len(augmented) == 4  # one noisy copy of each item, all with the good clip
    assert {a["params"]["noise_label"] for m in augmented for a in m["augmentations"]} == {"hiss"}
    assert samples["folder-good_video"]["original_data"]["visual"]["status"] in ("captions_withheld", "no_caption")
    for name, (_, reason) in VIDEO_BOMBS.items():
        visual = samples[f"folder-{name}"]["original_data"]["visual"]
        assert visual["status"] == "skipped" and visual["reason"] == reason, (name, visual)
    noise_failures = {
        r["detail"].split(":", 1)[0].rsplit("/", 1)[-1]: r for r in failures.values() if r["stage"] == "augment"
    }
    assert set(noise_failures) == set(NOISE_BOMBS)
    assert all(r["reason"] in NOISE_REASONS for r in noise_failures.values()), noise_failures
    card = json.loads(next(out.glob("*/dataset_card.json")).read_text())
    assert sum(n for reason, n in card["failures_by_reason"].items() if reason.startswith("augment/")) == 3
    assert card["totals"]["reconciled"]
    assert "augment/too_long" in log  # the summary names them


def _all_samples(out: Path) -> list[dict]:
    import io
    import tarfile

    found = []
    for shard in out.glob("*/*/*.tar"):
        with tarfile.open(shard) as tar:
            for member in tar.getmembers():
                if member.name.endswith(".json"):
                    found.append(json.load(io.TextIOWrapper(tar.extractfile(member))))
    return found


def test_a_noise_file_that_fails_is_a_failure_with_its_reason_and_stays_out_of_the_bank(tmp_path: Path) -> None:
    (tmp_path / "good.wav").write_bytes(_noise_clip())
    (tmp_path / "constant.flac").write_bytes(hostile.constant_flac(600))
    (tmp_path / "silent.wav").write_bytes(hostile.encoded(np.zeros(4800, np.float32), 48_000, "WAV", "PCM_16"))
    (tmp_path / "broken.wav").write_bytes(b"RIFF nonsense")
    pairs = [(p.stem, str(p)) for p in sorted(tmp_path.iterdir())]
    entries, failures = load_labelled_uris(pairs, decoding=NoiseDecoding(max_duration_s=30.0))
    assert [label for label, _ in entries] == ["good"]
    reasons = {f.detail.split(":", 1)[0].rsplit("/", 1)[-1]: f.reason for f in failures}
    assert reasons == {"constant.flac": "too_long", "silent.wav": "silent_noise", "broken.wav": "not_audio"}
    assert all(f.stage == "augment" for f in failures)


@pytest.fixture
def worker():
    worker = DecodeWorker(timeout_s=60.0, memory_limit_mb=1024)
    yield worker
    worker.close()


def test_frames_past_the_size_cap_are_refused_before_any_is_decoded(worker, huge_video: Path) -> None:
    with pytest.raises(VideoError) as caught:
        scan_video(worker, str(huge_video), SceneScan())
    assert caught.value.reason == "video_too_large" and worker.started == 1


def test_frames_past_the_count_caps_are_refused(worker, tmp_path: Path) -> None:
    path = tmp_path / "steady.mp4"
    path.write_bytes(hostile.replayed_frame_video(64, 64, 3_000))  # 25 fps: 120 s of video
    assert scan_video(worker, str(path), SceneScan()).frames_sampled == 120
    with pytest.raises(VideoError) as caught:
        scan_video(worker, str(path), SceneScan(FrameSettings(max_frames=1_000)))
    assert caught.value.reason == "too_many_frames"


def test_a_frame_scan_past_its_time_is_killed_and_the_next_video_gets_a_fresh_child(worker, huge_video: Path) -> None:
    uncapped = SceneScan(FrameSettings(max_pixels=1 << 30))
    worker.timeout_s = 1.0
    with pytest.raises(VideoError) as caught:
        scan_video(worker, str(huge_video), uncapped)
    assert caught.value.reason in ("video_timeout", "video_out_of_memory")
    worker.timeout_s = 60.0
    small = huge_video.parent / "small.mp4"
    small.write_bytes(hostile.one_frame_video(64, 64))
    assert scan_video(worker, str(small), SceneScan()).frames_sampled == 1 and worker.started == 2


def test_a_frame_scan_past_the_memory_limit_is_a_failure_and_the_child_is_replaced(huge_video: Path) -> None:
    worker = DecodeWorker(timeout_s=60.0, memory_limit_mb=64)
    try:
        with pytest.raises(VideoError) as caught:
            scan_video(worker, str(huge_video), SceneScan(FrameSettings(max_pixels=1 << 30)))
        assert caught.value.reason == "video_out_of_memory"
    finally:
        worker.close()


def test_an_ordinary_wav_is_the_fast_path_inside_the_boundary_with_the_childs_reasons(worker) -> None:
    wav = hostile.encoded(hostile.speech_like(1.0, 16_000), 16_000, "WAV", "PCM_16")
    from transforms.decode_stream import DecodeLimits, decode_to_48k

    audio, info = worker.decode(wav, DecodeLimits())
    reference, child_info = decode_to_48k(wav)
    assert np.array_equal(audio, reference) and worker.started == 0  # no child for it
    assert (info["decoded_frames"], info["sample_rate"]) == (child_info.decoded_frames, child_info.sample_rate)
    for bad, reason in ((hostile.wav_with_rate(8), "bad_sample_rate"), (wav, "too_long")):
        with pytest.raises(AudioError) as caught:
            worker.decode(bad, DecodeLimits(max_duration_s=0.5))
        assert caught.value.reason == reason


def test_a_video_sent_as_bytes_scans_as_the_file_the_child_opens(worker, tmp_path: Path) -> None:
    from dataclasses import asdict

    from transforms.visual.frames import _key_frame

    path = tmp_path / "steady.mp4"
    path.write_bytes(hostile.replayed_frame_video(64, 48, 100))
    params = asdict(SceneScan())
    by_path = worker.run_job("transforms.visual.frames:FRAMES_JOB", params, path=str(path))
    by_bytes = worker.run_job("transforms.visual.frames:FRAMES_JOB", params, data=path.read_bytes())
    assert by_path[1] == by_bytes[1] and by_path[1]["frames_sampled"] == 4
    frames = [_key_frame(part, SceneScan()) for part in by_bytes[0]]
    assert [k.rgb.shape for k in frames] == [(48, 64, 3)] and worker.started == 1


def test_the_child_runs_only_jobs_under_transforms(worker) -> None:
    with pytest.raises(AudioError) as caught:
        worker.run_job("os:system", {"command": "true"})
    assert caught.value.reason == "decode_error" and "not a decode job" in caught.value.detail
