"""Web video and audio as yt-dlp writes it (the paper's "YouTube Dataset", Table VII).

Layout: whatever folder tree the downloads went to, each download being files that share one
base name, as ``yt-dlp --write-info-json --write-subs`` writes them (the default output template
is ``%(title)s [%(id)s].%(ext)s``; ``-o "%(id)s.%(ext)s"`` and sub-folders work the same)::

    <base>.<ext>              the media: video (mp4, mkv, webm, mov) or audio (m4a, opus, mp3, ...)
    <base>.info.json          id, title, description, uploader / channel, language, duration,
                              chapters [{start_time, end_time, title}], license, tags, categories,
                              webpage_url, upload_date, ext, vcodec, extractor_key, ...
    <base>.<lang>.vtt         subtitles (--write-subs / --write-auto-subs; .srt after --convert-subs)

The title is the item's human caption; description, uploader, chapters, tags, license and URL go
to ``original_data``. Subtitles become the transcript (the ones in the video's language, else in
``--lang``, else the first), with their language. Files holding a video stream are flagged
``extra["video"]`` for the visual stage. An info JSON without its media is a ``missing_file``
record; a media file without an info JSON is a ``no_metadata`` record (nothing is dropped
silently); playlist info JSONs are not recordings and are skipped. The info JSONs (they can be
megabytes each) are read by Beam workers, not in the launcher.
"""

from __future__ import annotations

import html
import json
import posixpath
import re
from collections.abc import Iterator
from typing import Any

import apache_beam as beam

from pipelines.sources.common import (
    MEDIA_EXTENSIONS,
    VIDEO_EXTENSIONS,
    DatasetSource,
    any_match,
    failure,
    glob,
    join,
    limit_items,
    youtube_origin,
)
from schemas import Failure, SourceItem, make_key
from schemas.vocab import normalize_language
from transforms.storage import read_bytes

SUBTITLE_EXTENSIONS = (".vtt", ".srt")
DEFAULT_LICENSE = "per-video terms of the hosting site (yt-dlp download)"
MAX_DESCRIPTION = 5000


def group_downloads(paths: list[str]) -> dict[str, dict[str, Any]]:
    """Files by download base name: {"info": path, "media": [paths], "subs": {lang: path}}."""
    groups: dict[str, dict[str, Any]] = {}

    def entry(base: str) -> dict[str, Any]:
        return groups.setdefault(base, {"info": None, "media": [], "subs": {}})

    for path in paths:
        lower = path.lower()
        if lower.endswith(".info.json"):
            entry(path[: -len(".info.json")])["info"] = path
        elif lower.endswith(SUBTITLE_EXTENSIONS):
            base, _, lang = path.rsplit(".", 1)[0].rpartition(".")
            if base and lang and "/" not in lang:
                entry(base)["subs"][lang] = path
        elif lower.endswith(MEDIA_EXTENSIONS) and "." in posixpath.basename(path):
            entry(path.rsplit(".", 1)[0])["media"].append(path)
    return groups


def subtitle_text(raw: str) -> str:
    """The spoken text of a WebVTT or SRT file: no header, cue timings, tags or rolled-over repeats."""
    lines: list[str] = []
    for line in raw.replace("\r", "").split("\n"):
        line = line.strip()
        if (
            not line
            or "-->" in line
            or line.isdigit()
            or line.startswith(("WEBVTT", "NOTE", "Kind:", "Language:", "STYLE", "REGION"))
        ):
            continue
        text = html.unescape(re.sub(r"<[^>]*>", "", line)).strip()
        if text and (not lines or lines[-1] != text):
            lines.append(text)
    return re.sub(r"\s+", " ", " ".join(lines)).strip()


def pick_media(info: dict[str, Any], media: list[str]) -> str | None:
    """The downloaded file: the one yt-dlp recorded, else the one with the info's extension, else the first."""
    if not media:
        return None
    recorded = [posixpath.basename(d.get("filepath") or "") for d in info.get("requested_downloads") or []]
    for path in media:
        if posixpath.basename(path) in recorded:
            return path
    ext = "." + str(info.get("ext") or "").lower()
    return next((p for p in media if p.lower().endswith(ext)), sorted(media)[0])


def has_video(info: dict[str, Any], path: str) -> bool:
    vcodec = info.get("vcodec")
    if vcodec is not None:
        return str(vcodec).lower() not in ("none", "")
    return path.lower().endswith(VIDEO_EXTENSIONS) and not path.lower().endswith(".webm")


def download_to_records(base: str, group: dict[str, Any], language: str) -> Iterator[SourceItem | Failure]:
    """One download (its info JSON, media and subtitle files) as a SourceItem, or a failure record."""
    name = posixpath.basename(base)
    if group["info"] is None:
        for path in group["media"]:
            yield failure(
                make_key("ytdlp", "file", name), "ytdlp", "no_metadata", f"{path}: no {name}.info.json beside it"
            )
        return
    try:
        info = json.loads(read_bytes(group["info"]).decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        yield failure(make_key("ytdlp", "file", name), "ytdlp", "bad_metadata", f"{group['info']}: {exc}")
        return
    if info.get("_type") == "playlist":
        return  # a playlist's own metadata, not a recording
    video_id = str(info.get("id") or name)
    key = make_key("ytdlp", str(info.get("extractor_key") or "web").lower(), video_id)
    path = pick_media(info, group["media"])
    if path is None:
        yield failure(key, "ytdlp", "missing_file", f"{group['info']}: no media file named {name}.<ext>")
        return
    spoken = normalize_language(info.get("language")) if info.get("language") else None
    subs = group["subs"]
    wanted = [lang for lang in subs if spoken and normalize_language(lang) == spoken]
    wanted += [lang for lang in subs if normalize_language(lang) == normalize_language(language)]
    sub_lang = (wanted or sorted(subs) or [None])[0]
    transcript = subtitle_text(read_bytes(subs[sub_lang]).decode("utf-8", errors="replace")) if sub_lang else ""
    title = str(info.get("title") or "").strip()
    extra: dict[str, Any] = {
        "title": title,
        "description": str(info.get("description") or "")[:MAX_DESCRIPTION],
        "uploader": info.get("uploader") or info.get("channel") or "",
        "channel": info.get("channel") or "",
        "webpage_url": info.get("webpage_url") or "",
        "upload_date": info.get("upload_date") or "",
        "tags": list(info.get("tags") or []),
        "categories": list(info.get("categories") or []),
        "chapters": [
            {"start_s": c.get("start_time"), "end_s": c.get("end_time"), "title": c.get("title", "")}
            for c in info.get("chapters") or []
        ],
        "video": has_video(info, path),
    }
    if sub_lang:
        extra["subtitles_language"] = sub_lang
    yield SourceItem(
        key=key,
        uri=path,
        dataset="ytdlp",
        source_id=video_id,
        origin=_origin(info, video_id),
        language=spoken or (normalize_language(sub_lang) if sub_lang else "und"),
        transcript=transcript or None,
        captions=(title,) if title else (),
        license=info.get("license") or DEFAULT_LICENSE,
        duration_hint_s=float(info["duration"]) if isinstance(info.get("duration"), (int, float)) else None,
        extra=extra,
    )


def _origin(info: dict[str, Any], video_id: str) -> str:
    """``youtube:<id>@<start>`` for a YouTube download (``section_start`` when yt-dlp cut a section
    with ``--download-sections``, else 0: the whole video); "" for other sites."""
    if str(info.get("extractor_key") or "").lower() != "youtube":
        return ""
    start = info.get("section_start")
    return youtube_origin(video_id, start if isinstance(start, (int, float)) else 0)


class YtDlpSource(DatasetSource):
    name = "ytdlp"
    description = "Web video/audio downloaded by yt-dlp: title, description, chapters, subtitles as transcript"
    layout = "<base>.<ext> + <base>.info.json [+ <base>.<lang>.vtt] (yt-dlp --write-info-json --write-subs), any depth"
    markers = ("*.info.json",)

    @classmethod
    def locate(cls, input_root: str) -> str | None:
        base = (input_root or "").rstrip("/")
        if base and any(any_match(join(base, depth, "*.info.json")) for depth in ("", "*", "*/*")):
            return base
        return None

    def items(self) -> Iterator[SourceItem | Failure]:
        for base, group in sorted(group_downloads(glob(join(self.root, "**"))).items()):
            yield from download_to_records(base, group, self.settings.language)

    def expand(self, pipeline: beam.Pipeline) -> beam.PCollection:
        # Only file names are listed here; each info JSON is read on a worker.
        groups = sorted(group_downloads(glob(join(self.root, "**"))).items())
        records = (
            pipeline
            | "ytdlp downloads" >> beam.Create(groups, reshuffle=False)
            | "ytdlp records"
            >> beam.FlatMap(lambda group, lang: download_to_records(*group, lang), self.settings.language)
        )
        return limit_items(records, self.settings.limit, "ytdlp")
