"""Visual stage speed, measured in one run on the synthetic demo videos.

    python bench/visual.py [--videos 6] [--fps 1] [--model coca_ViT-B-32] [--frames 16] [--batch 8]

frames: decode + sample + SSIM throughput (sampled frames per second and video seconds per wall
second), streaming each video once as the stage does; plus scene-detection accuracy against the
known cuts (every cut found within one sampled frame, no extra scene).

captions: CoCa captions per second, batched (``--batch`` frames per ``generate``) vs one frame at
a time, with random weights (no pretrained CoCa offline: the text is meaningless, the compute is
the real architecture's) and greedy and beam decoding.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.sources.demo.video import video_items
from transforms.visual.coca import CocaCaptioner, random_checkpoint
from transforms.visual.frames import FrameSettings, sampled_frames
from transforms.visual.options import DECODINGS
from transforms.visual.scenes import SceneDetector


def bench_frames(items: list, fps: float) -> list:
    sampled, video_s, wrong, key_rgb = 0, 0.0, 0, []
    start = time.perf_counter()
    for item in items:
        detector = SceneDetector()
        found = []
        for frame in sampled_frames(item.uri, FrameSettings(fps=fps)):
            sampled += 1
            if detector.push(frame.index, frame.time_s, frame.gray) is not None:
                found.append(frame.time_s)
                key_rgb.append(frame.rgb)
        cuts = item.extra["video_cut_times_s"]
        ok = len(found) - 1 == len(cuts) and all(abs(f - c) <= 1 / fps for f, c in zip(found[1:], cuts, strict=True))
        wrong += not ok
        video_s += item.duration_hint_s
    wall = time.perf_counter() - start
    print(f"frames: {len(items)} videos, {video_s:.0f} s of video, {sampled} sampled frames at {fps:g} fps")
    print(f"  decode+sample+SSIM: {sampled / wall:.0f} sampled frames/s, {video_s / wall:.0f} s of video per s")
    print(f"  scene detection: {len(items) - wrong}/{len(items)} videos with every cut within 1 frame and no extra")
    return key_rgb


def bench_captions(frames: list, model_name: str, batch: int, decoding: str, checkpoint: str) -> None:
    handler = CocaCaptioner(model_name, checkpoint, device="auto", batch_size=batch, generation=DECODINGS[decoding])
    start = time.perf_counter()
    model = handler.load_model()
    load_s = time.perf_counter() - start
    handler.run_inference(frames[:1], model)  # warm-up
    start = time.perf_counter()
    batched = list(handler.run_inference(frames, model))
    batched_s = time.perf_counter() - start
    start = time.perf_counter()
    for frame in frames:
        handler.run_inference([frame], model)
    single_s = time.perf_counter() - start
    print(
        f"captions ({model_name}, {decoding}, device {model.device}, load {load_s:.1f} s): "
        f"batched x{batch} {len(frames) / batched_s:.2f}/s, one-by-one {len(frames) / single_s:.2f}/s "
        f"({single_s / batched_s:.2f}x); e.g. {batched[0][:60]!r}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=6)
    parser.add_argument("--fps", type=float, default=1.0)
    parser.add_argument("--model", default="coca_ViT-B-32")
    parser.add_argument("--frames", type=int, default=8, help="frames captioned per measurement")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--decoding", default="greedy,beam")
    parser.add_argument("--cache", default=os.path.join("data", "cache", "demo_video"))
    args = parser.parse_args()
    items = list(video_items("en", seed=0, count=args.videos, cache_dir=args.cache))
    key_rgb = bench_frames(items, args.fps)
    frames = (key_rgb * (args.frames // max(1, len(key_rgb)) + 1))[: args.frames]
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = random_checkpoint(args.model, os.path.join(folder, f"{args.model}.pt"))
        for decoding in args.decoding.split(","):
            bench_captions(frames, args.model, args.batch, decoding, checkpoint)


if __name__ == "__main__":
    main()
