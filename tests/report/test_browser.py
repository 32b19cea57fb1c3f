"""The report renders in a real browser: headless Chromium opens index.html from disk (offline),
every image decodes, every sample's FLAC loads as audio, and a screenshot shows the page.

Needs a ``chromium`` binary (CI: ``deploy/ci/install-browser.sh``); skipped without one.
"""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image, ImageStat

from pipelines.report_html import SECTIONS
from pipelines.report_plots import PLOTS
from tests.report.chromium import Chromium, find_browser

BROWSER = find_browser()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(BROWSER is None, reason="no chromium binary on PATH (install it: deploy/ci/install-browser.sh)"),
]

PROBE = """(async () => {
  const images = [...document.images].map(i => ({src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0}));
  const audio = await Promise.all([...document.querySelectorAll('audio')].map(a => new Promise(done => {
    const probe = new Audio();
    probe.preload = 'metadata';
    probe.onloadedmetadata = () => done({src: a.getAttribute('src'), ok: probe.duration > 0});
    probe.onerror = () => done({src: a.getAttribute('src'), ok: false});
    probe.src = a.getAttribute('src');
  })));
  return {images, audio, sections: [...document.querySelectorAll('section')].map(s => s.id)};
})()"""


@pytest.mark.parametrize("corpus", ["mixed", "demo-en"])
def test_chromium_renders_the_report_with_no_broken_image_or_audio(reported, tmp_path, corpus):
    index = reported / corpus / "report" / "index.html"
    with Chromium(BROWSER) as browser:
        browser.open(index.as_uri(), width=1200, height=1600)
        probe = browser.evaluate(PROBE)
        shot = browser.screenshot()
    (tmp_path / f"{corpus}.png").write_bytes(shot)

    measured = "attributes" in json.loads((index.parent / "report.json").read_text())  # only when measured
    assert probe["sections"] == [sid for sid in SECTIONS if sid != "attributes" or measured]
    assert len(probe["images"]) == len([name for name in PLOTS if name != "attributes" or measured])
    assert [i for i in probe["images"] if not i["ok"]] == []
    samples = json.loads((index.parent / "report.json").read_text())["samples"]
    assert [a["src"] for a in probe["audio"]] == [s["audio"] for s in samples] and samples
    assert [a for a in probe["audio"] if not a["ok"]] == []

    with Image.open(io.BytesIO(shot)) as image:
        assert image.format == "PNG" and image.size == (1200, 1600)
        rgb = image.convert("RGB")
        r, g, b = rgb.getpixel((600, 20))  # the dark-blue title bar: the stylesheet applied
        assert b < 120 and r < 80
        assert len(rgb.getcolors(maxcolors=1 << 20) or []) > 200  # text, tables, plots: not a blank page
        assert max(ImageStat.Stat(rgb).stddev) > 30
