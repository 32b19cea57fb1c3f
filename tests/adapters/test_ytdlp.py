"""yt-dlp downloads: <base>.<ext> + <base>.info.json [+ <base>.<lang>.vtt], as yt-dlp writes them."""

from __future__ import annotations

import json

from schemas import Failure, SourceItem
from tests.adapters.conftest import audio, build, source, text

# The fields of a YouTube info JSON the adapter reads (yt-dlp README, "OUTPUT TEMPLATE" fields).
INFO = {
    "id": "dQw4w9WgXcQ",
    "title": "Rick Astley - Never Gonna Give You Up (Official Music Video)",
    "description": "The official video for \u201cNever Gonna Give You Up\u201d by Rick Astley.",
    "uploader": "Rick Astley",
    "channel": "Rick Astley",
    "language": "en",
    "duration": 212,
    "license": "Creative Commons Attribution license (reuse allowed)",
    "chapters": [{"start_time": 0.0, "end_time": 18.0, "title": "Intro"}],
    "tags": ["rick astley", "never gonna give you up"],
    "categories": ["Music"],
    "webpage_url": "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
    "upload_date": "20091025",
    "extractor_key": "Youtube",
    "ext": "mp4",
    "vcodec": "avc1.640028",
}
VTT = """WEBVTT
Kind: captions
Language: en

00:00:00.000 --> 00:00:02.000 align:start position:0%
we're<00:00:00.500><c> no</c><00:00:00.900><c> strangers</c>

00:00:02.000 --> 00:00:04.000 align:start position:0%
we're no strangers
to love &amp; you know the rules
"""


def test_ytdlp_reads_the_default_output_template_with_info_json_and_subtitles(tmp_path):
    base = "Rick Astley - Never Gonna Give You Up (Official Music Video) [dQw4w9WgXcQ]"  # %(title)s [%(id)s]
    audio(tmp_path / f"{base}.mp4", seconds=0.5)
    text(tmp_path / f"{base}.info.json", json.dumps(INFO))
    text(tmp_path / f"{base}.en.vtt", VTT)
    built = build("ytdlp", tmp_path, tmp_path / "out")
    meta = built.meta("ytdlp-youtube-dQw4w9WgXcQ")
    assert INFO["title"] in [c["text"] for c in meta["captions"] if c["origin"] == "human"]
    data = meta["original_data"]
    assert data["transcript"] == "we're no strangers to love & you know the rules"
    assert data["language"] == "en" and data["license"] == INFO["license"]
    extra = data["extra"]
    assert extra["video"] is True and extra["uploader"] == "Rick Astley"
    assert extra["chapters"] == [{"start_s": 0.0, "end_s": 18.0, "title": "Intro"}]
    assert extra["description"].startswith("The official video") and extra["subtitles_language"] == "en"


def test_ytdlp_id_template_audio_only_and_unmatched_files_are_accounted_for(tmp_path):
    info = {**INFO, "id": "abcdefghijk", "ext": "webm", "vcodec": "none", "language": None}
    audio(tmp_path / "channel" / "abcdefghijk.opus", seconds=0.3)  # -o "%(id)s.%(ext)s" -x
    text(tmp_path / "channel" / "abcdefghijk.info.json", json.dumps(info))
    text(tmp_path / "channel" / "abcdefghijk.fr.vtt", "WEBVTT\n\n00:00.000 --> 00:01.000\nbonjour\n")
    text(tmp_path / "skipped [zzzzzzzzzzz].info.json", json.dumps({**INFO, "id": "zzzzzzzzzzz"}))  # --skip-download
    audio(tmp_path / "stray.wav", seconds=0.2)  # no info JSON
    text(tmp_path / "playlist.info.json", json.dumps({"_type": "playlist", "id": "PL1", "title": "a list"}))
    out = list(source("ytdlp", tmp_path).items())
    items = {r.key: r for r in out if isinstance(r, SourceItem)}
    failures = {r.key: r.reason for r in out if isinstance(r, Failure)}
    item = items["ytdlp-youtube-abcdefghijk"]
    assert item.extra["video"] is False and item.transcript == "bonjour" and item.language == "fr"
    assert item.duration_hint_s == 212.0
    assert failures == {"ytdlp-youtube-zzzzzzzzzzz": "missing_file", "ytdlp-file-stray": "no_metadata"}
