"""``report/index.html``: the report's figures as one offline page (no script, no external resource).

Sections (their ids are stable; tests and links rely on them): ``overview``, ``table-vii``,
``hours``, ``durations``, ``captions``, ``augmentations``, ``quality``, ``attributes`` (only when measured),
``failures``, ``samples``, ``checks``.
Every value is escaped; plots and audio are linked relatively, so the folder can be published
as it is.
"""

from __future__ import annotations

from html import escape
from typing import Any

from pipelines.report_plots import PLOTS

SECTIONS: dict[str, str] = {
    "overview": "Overview",
    "table-vii": "Datasets (Table VII)",
    "hours": "Hours",
    "durations": "Durations",
    "captions": "Captions",
    "augmentations": "Augmentations",
    "quality": "Quality",
    "attributes": "Attributes",
    "failures": "Failures",
    "samples": "Samples",
    "checks": "Checks",
}

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#24374f;color:#fff;padding:14px 24px}header h1{margin:0;font-size:22px}
nav{padding:6px 24px;background:#e9eef4;position:sticky;top:0}nav a{margin-right:14px;color:#24374f}
main{padding:0 24px 40px;max-width:1100px}section{margin-top:26px}h2{border-bottom:2px solid #24374f;padding-bottom:3px}
table{border-collapse:collapse;margin:8px 0;background:#fff}td,th{border:1px solid #ccd;padding:3px 8px;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}tr.total td{font-weight:bold;background:#eef}
figure{margin:10px 0}figure img{max-width:100%;border:1px solid #dde;background:#fff}
figcaption{font-size:12px;color:#555}.kpi{display:inline-block;margin:8px 18px 0 0}.kpi b{font-size:20px;display:block}
.sample{background:#fff;border:1px solid #dde;border-radius:6px;padding:8px 12px;margin:8px 0}
.sample audio{width:100%;max-width:420px}.ok{color:#2d7a2d}.bad{color:#b3261e}code{font-size:12px}
.tags span{background:#e9eef4;border-radius:3px;padding:0 5px;margin-right:4px;font-size:12px}
"""


def _num(value: Any, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}".rstrip("0").rstrip(".")
    if isinstance(value, int):
        return f"{value:,}"
    return escape(str(value))


def _table(header: list[str], rows: list[list[Any]], numeric_from: int = 1, total: list[Any] | None = None) -> str:
    def cell(tag: str, i: int, value: Any) -> str:
        cls = ' class="n"' if i >= numeric_from else ""
        return f"<{tag}{cls}>{_num(value) if tag == 'td' else escape(str(value))}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(header))
    body = ["<tr>" + "".join(cell("td", i, v) for i, v in enumerate(r)) + "</tr>" for r in rows]
    if total:
        body.append('<tr class="total">' + "".join(cell("td", i, v) for i, v in enumerate(total)) + "</tr>")
    if not rows:
        body.append(f'<tr><td colspan="{len(header)}">none</td></tr>')
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _pairs(values: dict[str, Any], key: str, unit: str) -> str:
    return _table([key, unit], [[k, v] for k, v in values.items()])


def _figure(plots: dict[str, str], name: str) -> str:
    alt = escape(PLOTS[name])
    return f'<figure><img src="{escape(plots[name])}" alt="{alt}"><figcaption>{alt}</figcaption></figure>'


def _section(sid: str, body: str) -> str:
    return f'<section id="{sid}"><h2>{escape(SECTIONS[sid])}</h2>{body}</section>'


def _overview(r: dict[str, Any]) -> str:
    t = r["totals"]
    kpis = [
        ("samples", _num(t["samples"])),
        ("hours", _num(t["hours"])),
        ("size", f"{t['bytes'] / 1e6:,.1f} MB"),
        ("shards", _num(sum(s["shards"] for s in r["splits"].values()))),
        ("languages", _num(len(r["hours_by_language"]))),
        ("source datasets", _num(len(r["table_vii"]["rows"]))),
    ]
    kpi_html = "".join(f'<span class="kpi"><b>{v}</b>{escape(k)}</span>' for k, v in kpis)
    state = '<span class="ok">yes</span>' if t["reconciled"] else '<span class="bad">NO</span>'
    items = (
        f"<p>Source items: {_num(t['items_in'])} in = {_num(t['items_ok'])} written + "
        f"{_num(t['items_failed'])} failed — reconciled: {state}.</p>"
    )
    splits = _table(
        ["split", "shards", "samples", "hours", "MB"],
        [[k, v["shards"], v["samples"], v["hours"], round(v["bytes"] / 1e6, 2)] for k, v in r["splits"].items()],
    )
    return _section("overview", f"<div>{kpi_html}</div>{items}{splits}")


def _table_vii(r: dict[str, Any], plots: dict[str, str]) -> str:
    tv = r["table_vii"]
    header = ["Name", "Content", "≈ Hours", "Languages", "M", "F", "U", "Samples"]
    rows = [
        [
            row["dataset"],
            row["content"],
            row["hours"],
            f"{row['languages']} ({', '.join(row['language_codes'])})",
            row["male"],
            row["female"],
            row["unknown"],
            row["samples"],
        ]
        for row in tv["rows"]
    ]
    t = tv["total"]
    total = ["Total", "-", t["hours"], t["languages"], t["male"], t["female"], t["unknown"], t["samples"]]
    legend = (
        "<p>Content: speech (SP), emotion (E), age (A), gender (G), spoken words (W), sounds (S), music (M), "
        "as present in the samples' metadata. M / F / U: samples with a male, female or unknown speaker.</p>"
    )
    return _section(
        "table-vii", legend + _table(header, rows, numeric_from=2, total=total) + _figure(plots, "hours_by_dataset")
    )


def _hours(r: dict[str, Any], plots: dict[str, str]) -> str:
    body = _figure(plots, "hours_by_language") + _figure(plots, "hours_breakdown")
    all_languages = _pairs(dict(sorted(r["hours_by_language"].items(), key=lambda kv: -kv[1])), "language", "hours")
    body += f"<details><summary>All {len(r['hours_by_language'])} languages</summary>{all_languages}</details>"
    for key, title in (("hours_by_gender", "gender"), ("hours_by_emotion", "emotion"), ("hours_by_split", "split")):
        body += f'<div style="display:inline-block;vertical-align:top;margin-right:18px">{_pairs(r[key], title, "hours")}</div>'
    return _section("hours", body)


def _dist_row(name: str, d: dict[str, Any]) -> list[Any]:
    return [name, d["count"], d["mean"], d["median"], d["min"], d["max"]]


def _durations(r: dict[str, Any], plots: dict[str, str]) -> str:
    d = r["durations"]
    rows = [
        _dist_row("source recordings (before segmentation)", d["source"]),
        _dist_row("samples (after segmentation)", d["segments"]),
    ]
    table = _table(["seconds", "count", "mean", "median", "min", "max"], rows)
    note = "<p>Augmented copies are left out (they repeat their original's duration).</p>"
    return _section("durations", _figure(plots, "durations") + table + note)


def _captions(r: dict[str, Any], plots: dict[str, str]) -> str:
    words = _table(
        ["words per caption", "captions", "mean", "median", "min", "max"], [_dist_row("all", r["caption_words"])][:1]
    )
    side = "".join(
        f'<div style="display:inline-block;vertical-align:top;margin-right:18px">{_pairs(r[k], t, "captions")}</div>'
        for k, t in (("captions_by_origin", "origin"), ("captions_by_language", "language"))
    )
    return _section("captions", _figure(plots, "caption_words") + words + _figure(plots, "captions") + side + _llm(r))


def _llm(r: dict[str, Any]) -> str:
    """LLM answers accepted, rejected by check (fidelity, form) or failed; each fell back to its template."""
    outcomes = r.get("llm_outcomes") or {}
    if not outcomes:
        return ""
    rows = []
    for stage, o in outcomes.items():
        rows.append([stage, "accepted", "", o["accepted"]])
        rows += [[stage, "rejected", reason, n] for reason, n in sorted(o["rejected"].items(), key=lambda kv: -kv[1])]
        rows += [[stage, "failed", reason, n] for reason, n in sorted(o["failed"].items(), key=lambda kv: -kv[1])]
    note = (
        "<p>Every LLM answer is checked before use (<code>transforms/fidelity.py</code>): the transcript verbatim "
        "and no other quoted speech, no label dropped or contradicted, nothing the inputs do not support. A "
        "rejected or failed answer falls back to the concatenative caption, the template fusion or the lexicon.</p>"
    )
    return (
        '<h3 id="llm-outcomes">LLM answers</h3>'
        + note
        + _table(["stage", "outcome", "check / reason", "captions"], rows, numeric_from=3)
    )


def _augmentations(r: dict[str, Any], plots: dict[str, str]) -> str:
    a, n = r["augmentations"], r["noise_mix"]
    text = (
        f"<p>{_num(a['augmented_samples'])} augmented samples next to {_num(a['original_samples'])} originals; "
        f"{_num(n['snr_db']['count'])} noise mixes with a recorded SNR.</p>"
    )
    rows = [_dist_row("SNR (dB)", n["snr_db"]), _dist_row("noise weight λ", n["lambda"])]
    table = _table(["noise mix", "count", "mean", "median", "min", "max"], rows)
    return _section(
        "augmentations",
        text
        + _figure(plots, "noise_mix")
        + table
        + _figure(plots, "augmentations")
        + _pairs(a["by_name"], "augmentation", "samples"),
    )


def _quality(r: dict[str, Any], plots: dict[str, str]) -> str:
    """The measured filters (``--filters``): distributions of the samples written, and what each dropped."""
    q = r["quality"]
    if not q["samples_measured"] and not q["dropped"]:
        note = "<p>No quality filter was measured (<code>--filters</code> not given).</p>"
        return _section("quality", note + _figure(plots, "quality"))
    body = (
        f"<p>{_num(q['samples_measured'])} samples written with measured values "
        f"(<code>original_data.quality</code>; augmented copies, which carry their original's values measured "
        f"before any noise was mixed in, are left out); {_num(q['dropped_total'])} dropped by a threshold.</p>"
    )
    rows = [_dist_row(m, d) for m, d in q["distributions"].items()]
    body += _figure(plots, "quality") + _table(["measure", "samples", "mean", "median", "min", "max"], rows)
    for measure, bins in q["histograms"].items():
        body += _pairs(bins, f"{measure} (bin)", "samples")
    if q["language"]["verdicts"]:
        body += _pairs(q["language"]["verdicts"], "language check", "samples")
        body += _pairs(q["language"]["declared_to_detected"], "declared → detected", "samples")
    body += _pairs(q["dropped"], "dropped by", "samples") if q["dropped"] else "<p>Nothing dropped.</p>"
    return _section("quality", body)


def _attributes(r: dict[str, Any], plots: dict[str, str]) -> str:
    """The measured attributes (``--attributes``): samples per level, value distributions, drops."""
    a = r.get("attributes")
    if not a:
        return ""
    body = (
        f"<p>{_num(a['samples_measured'])} samples written with measured attributes "
        "(<code>original_data.attributes</code>; an augmented copy's are its own: those its effects changed "
        "are measured again).</p>"
    )
    for key, levels in a["levels"].items():
        body += _pairs(levels, f"{key} (level)", "samples")
    rows = [_dist_row(m, d) for m, d in a["distributions"].items()]
    body += _figure(plots, "attributes") + _table(["measure", "samples", "mean", "median", "min", "max"], rows)
    for name, reasons in (a.get("unmeasured") or {}).items():
        body += _pairs(reasons, f"{name} unmeasured (too little evidence: no value, no word)", "samples")
    body += _pairs(a["dropped"], "dropped by", "samples") if a["dropped"] else "<p>Nothing dropped.</p>"
    return _section("attributes", body)


def _failures(r: dict[str, Any], plots: dict[str, str]) -> str:
    f = r["failures"]
    body = f"<p>{_num(f['total'])} failure records in <code>failures/</code>.</p>"
    if f.get("speech_without_text"):
        body += (
            f"<p>Anomalies: {_num(f['speech_without_text'])} items rejected for lack of text although "
            "voice activity detection heard 2 s or more of speech.</p>"
        )
    body += (
        _figure(plots, "failures")
        + _pairs(f["by_stage"], "stage", "failures")
        + _pairs(f["by_reason"], "stage/reason", "failures")
    )
    for reason, examples in f["examples"].items():
        rows = [[e.get("key", ""), e.get("source", ""), e.get("detail", "")[:300], e.get("file", "")] for e in examples]
        body += f"<h3>{escape(reason)}</h3>" + _table(["key", "source", "detail", "file"], rows, numeric_from=99)
    return _section("failures", body)


def _sample_card(s: dict[str, Any]) -> str:
    captions = _table(
        ["origin", "language", "caption"],
        [[c["origin"], c["language"], c["text"]] for c in s["captions"]],
        numeric_from=99,
    )
    tags = "".join(f"<span>{escape(str(t))}</span>" for t in s["tags"])
    augs = "; ".join(f"{a['name']} {a['params']}" for a in s["augmentations"]) or "none"
    facts = (
        f"{escape(s['dataset'])} · {escape(s['split'])} · {s['duration_s']:.2f} s · language {escape(s['language'])} · "
        f"gender {escape(s['gender'])} · emotion {escape(s['emotion'] or '–')}"
    )
    audio = f'<audio controls preload="none" src="{escape(s["audio"])}"></audio>' if s.get("audio") else ""
    return (
        f'<div class="sample"><b><code>{escape(s["key"])}</code></b><div>{facts}</div>'
        f'<div class="tags">{tags}</div>{audio}{captions}<div><small>augmentations: {escape(augs)}</small></div></div>'
    )


def _samples(samples: list[dict[str, Any]]) -> str:
    body = "<p>A seeded uniform choice of samples per source dataset; the FLACs sit in <code>samples/</code>.</p>"
    for dataset in dict.fromkeys(s["dataset"] for s in samples):
        body += f"<h3>{escape(dataset)}</h3>" + "".join(_sample_card(s) for s in samples if s["dataset"] == dataset)
    return _section("samples", body if samples else "<p>none</p>")


def _checks(r: dict[str, Any]) -> str:
    c = r["card_check"]
    verdict = (
        '<p class="ok">Every figure of <code>dataset_card.json</code> equals the sum of the per-shard stats.</p>'
        if c["matches"]
        else '<p class="bad">The dataset card and the shards disagree:</p>'
    )
    items = "".join(f"<li><code>{escape(d)}</code></li>" for d in c["differences"] + r["problems"])
    return _section(
        "checks", verdict + (f"<ul>{items}</ul>" if items else "<p>No problems found reading the shards.</p>")
    )


def render(report: dict[str, Any]) -> str:
    """The whole page."""
    plots = report["plots"]
    shown = {sid: title for sid, title in SECTIONS.items() if sid != "attributes" or report.get("attributes")}
    nav = "".join(f'<a href="#{sid}">{escape(title)}</a>' for sid, title in shown.items())
    body = "".join(
        [
            _overview(report),
            _table_vii(report, plots),
            _hours(report, plots),
            _durations(report, plots),
            _captions(report, plots),
            _augmentations(report, plots),
            _quality(report, plots),
            _attributes(report, plots),
            _failures(report, plots),
            _samples(report["samples"]),
            _checks(report),
        ]
    )
    name = escape(report["name"])
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{name} — clara-corpus report</title>'
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><style>{STYLE}</style></head><body>'
        f"<header><h1>{name}</h1><div>clara-corpus dataset report · data in <code>report.json</code></div></header>"
        f"<nav>{nav}</nav><main>{body}</main></body></html>\n"
    )
