"""The visual stage: scene-change captions of video items fused with their audio description.

Paper Appendix B (Eq. 4-5) and §III-A2. For every sample whose item is a video, the video's
frames are streamed in the decode child (``frames.py``: :func:`scan_video`, a process with the
decode stage's memory limit, killed at ``--visual-timeout-s``); SSIM between consecutive
sampled frames finds the scene starts (``scenes.py``, SSIM < θ: see there why not Eq. 4's >);
CoCa captions the scene-start frames in batches (``coca.py``); and the frame captions of the
sample's time span are fused with its audio description (``fuse.py``). The sample gains the
fused caption (origin ``visual``) and, in ``original_data['visual']``, the raw frame captions with
their times (in the source and in the segment), the fusion method and the settings.

Captions are text only when CoCa's weights are real (``transforms.weights``): with random
weights (the offline stand-in) the frame captions stay in ``original_data['visual']`` with
``status: captions_withheld`` and the weights' provenance, and the sample's text gains nothing
(scene count and times are facts about the video, not descriptions of the clip).

Samples of other items pass through untouched. A video whose frames can't be read (corrupt,
truncated before any frame, audio-only container, zero frames, frames past the caps of
``frames.FrameSettings``, too slow, past the memory limit) keeps its audio: the sample goes on
without visual captions, ``original_data['visual']`` says why, and the Beam counter
``clara_visual/skipped/<reason>`` counts it (with ``on_error='fail'``, it is dropped with a failure
record). CoCa is loaded once per worker, and only when a shard actually holds a video.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

import numpy as np
from apache_beam.metrics import Metrics

from schemas import Caption, Failure
from schemas.media import AUDIO_EXTENSIONS
from transforms.decode_worker import DecodeWorker
from transforms.shared_models import load_shared
from transforms.stage import Sample, Stage, StageSpec
from transforms.visual.frames import (
    FrameSettings,
    SceneScan,
    VideoError,
    VideoScenes,
    looks_like_video,
    open_uri,
    scan_video,
)
from transforms.visual.fuse import FUSE_PROMPT_VERSION, CaptionFuser, FusionInput, fuser_from_settings
from transforms.visual.options import VisualSettings, check_visual
from transforms.visual.scenes import KeyFrame, SceneStart
from transforms.weights import may_caption

if TYPE_CHECKING:  # coca imports apache_beam.ml, which imports torch: a worker pays it only with the stage on
    from transforms.visual.coca import CocaCaptioner, LoadedCoca

STAGE = "visual"
_metric = {
    name: Metrics.counter("clara_visual", name)
    for name in ("videos", "scenes", "captions", "fused_llm", "skipped", "captions_withheld")
}


def is_video_item(uri: str) -> bool:
    """A video by extension, or (no audio extension) by its container's first bytes."""
    lowered = uri.lower().split("?", 1)[0]
    if "://" in lowered and not lowered.startswith(("gs://", "s3://", "file://", "hdfs://", "az://")):
        return False  # tts:// and other synthetic schemes
    if looks_like_video(uri):
        return True
    if lowered.endswith(AUDIO_EXTENSIONS):
        return False
    try:
        with open_uri(uri) as f:
            return looks_like_video(uri, f.read(512))
    except Exception:  # unreadable here: the decode stage already judged it
        return False


def frames_for_segment(frames: list[KeyFrame], start_s: float, duration_s: float, limit: int) -> list[KeyFrame]:
    """The scenes a segment shows: the one under way at its start, then those starting inside it,
    thinned evenly to ``limit`` (the first always kept)."""
    end_s = start_s + duration_s
    before = [k for k in frames if k.start.time_s <= start_s + 1e-6]
    inside = [k for k in frames if start_s + 1e-6 < k.start.time_s < end_s]
    chosen = before[-1:] + inside
    if len(chosen) > limit:
        picks = np.linspace(0, len(chosen) - 1, limit).round().astype(int)
        chosen = [chosen[i] for i in sorted(set(picks.tolist()))]
    return chosen


class VisualStage(Stage):
    """In-shard stage: video samples gain a fused visual + audio caption (see the module docstring)."""

    name = STAGE

    def __init__(
        self,
        settings: VisualSettings = VisualSettings(),
        fuser: CaptionFuser | None = None,
        captioner: CocaCaptioner | None = None,
        memory_limit_mb: int = 1024,
    ) -> None:
        self.settings = settings
        self.memory_limit_mb = memory_limit_mb
        """The frame decoder's memory limit (the decode stage's: ``--decode-memory-limit-mb``)."""
        from transforms.visual.coca import CocaCaptioner

        self.fuser = fuser or CaptionFuser()
        self.captioner = captioner or CocaCaptioner(
            model_name=settings.coca_model,
            pretrained=settings.coca_pretrained,
            device=settings.coca_device,
            batch_size=settings.coca_batch_size,
            torch_threads=settings.coca_threads or None,
            generation=settings.generation,
        )
        self._model: LoadedCoca | None = None
        self._worker: DecodeWorker | None = None

    def setup(self) -> None:
        """Cheap on purpose: the frame decoder's child starts, and CoCa loads, on the first video
        (most shards may hold none)."""
        if self._worker is None:
            self._worker = DecodeWorker(self.settings.timeout_s, self.memory_limit_mb)

    def teardown(self) -> None:
        """End the frame decoder's child (it would end by itself once this process goes)."""
        if self._worker is not None:
            self._worker.close()
            self._worker = None

    @property
    def scan(self) -> SceneScan:
        s = self.settings
        frames = FrameSettings(fps=s.frame_fps, gray_width=s.gray_width)
        return SceneScan(frames, s.ssim_threshold, s.min_scene_s, s.max_scenes)

    def model(self) -> LoadedCoca:
        if self._model is None:  # one CoCa per worker process, whatever its threads (transforms/shared_models.py)
            self._model = load_shared(f"coca:{self.settings!r}", self.captioner.load_model)
        return self._model

    # -- the shard's batch ------------------------------------------------------------------

    def process(self, samples: list[Sample]) -> tuple[list[Sample], list[Failure]]:
        self.setup()
        by_item: dict[str, list[int]] = defaultdict(list)
        for i, sample in enumerate(samples):
            if is_video_item(sample.item.uri):
                by_item[sample.item.key].append(i)
        if not by_item:
            return list(samples), []
        out: list[Sample | None] = list(samples)
        failures: list[Failure] = []
        fuse_todo: list[tuple[int, list[SceneStart], VideoScenes]] = []
        for indices in by_item.values():
            uri = samples[indices[0]].item.uri
            try:
                video = self._read(uri)
            except VideoError as error:
                _metric["skipped"].inc(len(indices))
                Metrics.counter("clara_visual", f"skipped/{error.reason}").inc(len(indices))
                for i in indices:
                    if self.settings.on_error == "fail":
                        failures.append(samples[i].fail(STAGE, error.reason, error.detail))
                        out[i] = None
                    else:
                        out[i] = _with_visual(
                            samples[i], {"status": "skipped", "reason": error.reason, "detail": error.detail}
                        )
                continue
            _metric["videos"].inc()
            _metric["scenes"].inc(video.scene_count)
            wanted: set[int] = set()
            for i in indices:
                seg = samples[i].segment
                chosen = frames_for_segment(video.frames, seg.start_s, seg.duration_s, self.settings.max_captions)
                fuse_todo.append((i, [k.start for k in chosen], video))
                wanted.update(k.start.frame_index for k in chosen)
            self._caption(video, wanted)
            video.frames = []  # the RGB copies are no longer needed
        self._fuse(samples, out, fuse_todo)
        return [s for s in out if s is not None], failures

    def _read(self, uri: str) -> VideoScenes:
        """The video's scene starts, decoded in the child (raises VideoError with the reason)."""
        assert self._worker is not None
        return scan_video(self._worker, uri, self.scan)

    def _caption(self, video: VideoScenes, wanted: set[int]) -> None:
        """Caption the wanted scene-start frames, ``coca_batch_size`` at a time."""
        todo = [k for k in video.frames if k.start.frame_index in wanted and k.start.frame_index not in video.captions]
        if not todo:
            return
        model = self.model()
        size = self.settings.coca_batch_size
        for start in range(0, len(todo), size):
            chunk = todo[start : start + size]
            texts = list(self.captioner.run_inference([k.rgb for k in chunk], model))
            for key_frame, text in zip(chunk, texts, strict=True):
                video.captions[key_frame.start.frame_index] = text
            _metric["captions"].inc(sum(1 for t in texts if t))

    def _fuse(
        self, samples: list[Sample], out: list[Sample | None], todo: list[tuple[int, list[SceneStart], VideoScenes]]
    ) -> None:
        weights = self._model.weights if self._model is not None else None
        honest = may_caption(weights)
        inputs = []
        for i, chosen, video in todo:
            visual = tuple(video.captions.get(k.frame_index, "") for k in chosen)
            inputs.append(
                FusionInput(tuple(v for v in visual if v), _audio_description(samples[i]), samples[i].transcript)
            )
        fusable = [j for j, f in enumerate(inputs) if f.visual] if honest else []
        results = dict(zip(fusable, self.fuser.fuse_many([inputs[j] for j in fusable]), strict=True))
        for j, (i, chosen, video) in enumerate(todo):
            sample = samples[i]
            record = self._record(sample, chosen, video)
            if weights is not None:
                record["weights"] = weights.record()
            captions = list(sample.captions)
            if not honest:
                if inputs[j].visual:  # the stand-in's output is kept above, never as text
                    record["status"] = "captions_withheld"
                    _metric["captions_withheld"].inc()
                else:
                    record["status"] = "no_caption"
                out[i] = _with_visual(sample, record)
                continue
            if self.settings.raw_captions_in_text:
                captions += [Caption(t, "en", "visual") for t in inputs[j].visual]
            if j in results:
                fused = results[j]
                captions.append(Caption(fused.text, "en", "visual"))
                record["fused"] = fused.text
                record["fusion"] = {"method": fused.method, "reason": fused.reason}
                if self.fuser.uses_llm:
                    record["fusion"].update(model=self.fuser.model, prompt=FUSE_PROMPT_VERSION)
                _metric["fused_llm"].inc(int(fused.method == "llm"))
            else:
                record["status"] = "no_caption"
            out[i] = _with_visual(sample.derive(captions=captions), record)

    def _record(self, sample: Sample, chosen: list[SceneStart], video: VideoScenes) -> dict[str, Any]:
        s = self.settings
        seg = sample.segment
        return {
            "status": "ok",
            "scenes": [
                {
                    "time_s": k.time_s,
                    "segment_time_s": round(max(0.0, k.time_s - seg.start_s), 3),
                    "ssim": k.ssim,
                    "caption": video.captions.get(k.frame_index) or None,
                }
                for k in chosen
            ],
            "scene_count": video.scene_count,
            "frames_sampled": video.frames_sampled,
            **({"truncated": video.truncated} if video.truncated else {}),
            "settings": {
                "frame_fps": s.frame_fps,
                "ssim_threshold": s.ssim_threshold,
                "min_scene_s": s.min_scene_s,
                "coca_model": s.coca_model.rsplit("/", 1)[-1],
                "coca_pretrained": (s.coca_pretrained or "none").rsplit("/", 1)[-1],
            },
        }


def _audio_description(sample: Sample) -> str | None:
    """The caption that says what the audio is: the first template caption, else the first one."""
    template = next((c for c in sample.captions if c.origin == "template"), None)
    first = template or (sample.captions[0] if sample.captions else None)
    return first.text if first else None


def _with_visual(sample: Sample, record: dict[str, Any]) -> Sample:
    return sample.derive(original_data={**sample.original_data, "visual": record})


def build_visual(config: Any) -> VisualStage | None:
    """The stage when ``--visual`` is on; fusion asks the LLM when one is configured."""
    if not config.visual.enabled:
        return None
    return VisualStage(
        config.visual, fuser=fuser_from_settings(config.llm), memory_limit_mb=config.decode.memory_limit_mb
    )


SPEC = StageSpec(
    name="visual", settings=VisualSettings, build=build_visual, order=30, check=check_visual, writes=("visual",)
)
