"""The report's PNG plots, drawn from ``report.json``'s figures (matplotlib, Agg backend).

Every plot is always written — an empty figure says "none" — so a report's layout does not
depend on what the corpus happens to contain. Plots are small (about 900 × 300 px at 100 dpi).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

DPI = 100
COLOURS = ("#3b6ea8", "#e08a2c", "#5a9e4b", "#b8463f", "#7d5ba6", "#8c6d4f", "#d07fb4", "#7f7f7f")
PLOTS: dict[str, str] = {
    "hours_by_dataset": "Hours per source dataset",
    "hours_by_language": "Hours per language (top languages and the long tail)",
    "hours_breakdown": "Hours per gender, emotion and split",
    "durations": "Duration of source recordings and of segments",
    "caption_words": "Caption length (words)",
    "captions": "Captions by origin and by language",
    "noise_mix": "SNR and noise weight λ of noise-mixed samples",
    "augmentations": "Augmentations applied",
    "failures": "Failures by stage and reason",
    "quality": "Measured quality filters over the samples written (--filters)",
    "attributes": "Measured attributes over the samples written (--attributes)",
}
"""Plot name → caption; files are ``plots/<name>.png``."""


def _bars(ax, values: dict[str, float], title: str, unit: str, horizontal: bool = False) -> None:
    ax.set_title(title, fontsize=10)
    if not values:
        ax.text(0.5, 0.5, "none", ha="center", va="center", transform=ax.transAxes, color="#777")
        ax.set_xticks([])
        ax.set_yticks([])
        return
    labels, heights = list(values), list(values.values())
    colours = [COLOURS[i % len(COLOURS)] for i in range(len(labels))]
    if horizontal:
        ax.barh(labels[::-1], heights[::-1], color=colours[::-1])
        ax.set_xlabel(unit)
    else:
        ax.bar(labels, heights, color=colours)
        ax.set_ylabel(unit)
        ax.tick_params(axis="x", labelrotation=30 if len(labels) > 4 else 0, labelsize=8)
    ax.grid(axis="x" if horizontal else "y", alpha=0.3)


def _hist(
    ax, dist: dict[str, Any], title: str, xlabel: str, label: str | None = None, colour: str = COLOURS[0]
) -> bool:
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    if not dist.get("count"):
        ax.text(0.5, 0.5, "none", ha="center", va="center", transform=ax.transAxes, color="#777")
        ax.set_xticks([])
        ax.set_yticks([])
        return False
    edges, counts = dist["edges"], dist["counts"]
    ax.stairs(counts, edges, fill=True, alpha=0.45, color=colour, label=label)
    ax.stairs(counts, edges, color=colour)
    ax.set_ylabel("count")
    ax.grid(axis="y", alpha=0.3)
    return True


def _figure(panels: int, height: float = 3.0):
    fig, axes = plt.subplots(1, panels, figsize=(3.2 * panels if panels > 1 else 9, height), dpi=DPI, squeeze=False)
    return fig, list(axes[0])


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=DPI)
    plt.close(fig)


def draw_all(report: dict[str, Any], folder: Path) -> dict[str, str]:
    """Write every plot under ``folder``; returns plot name → path relative to the report folder."""
    folder.mkdir(parents=True, exist_ok=True)
    drawers = {
        "hours_by_dataset": lambda: _one_bar(report["hours_by_dataset"], "hours", True),
        "hours_by_language": lambda: _one_bar(report["hours_by_language_top"], "hours", True),
        "hours_breakdown": lambda: _breakdown(report),
        "durations": lambda: _durations(report["durations"]),
        "caption_words": lambda: _caption_words(report["caption_words"]),
        "captions": lambda: _captions(report),
        "noise_mix": lambda: _noise_mix(report["noise_mix"]),
        "augmentations": lambda: _augmentations(report["augmentations"]),
        "failures": lambda: _one_bar(report["failures"]["by_reason"], "items", True),
        "quality": lambda: _quality(report["quality"]),
    }
    if "attributes" in report:  # only when the attributes stage ran
        drawers["attributes"] = lambda: _quality(report["attributes"])
    written = {}
    for name, draw in drawers.items():
        fig = draw()
        _save(fig, folder / f"{name}.png")
        written[name] = f"{folder.name}/{name}.png"
    return written


def _one_bar(values: dict[str, float], unit: str, horizontal: bool):
    fig, (ax,) = _figure(1, height=min(8.0, 1.1 + 0.3 * max(len(values), 2)))
    _bars(ax, values, "", unit, horizontal)
    return fig


def _breakdown(report: dict[str, Any]):
    fig, axes = _figure(3)
    _bars(axes[0], report["hours_by_gender"], "gender", "hours")
    _bars(axes[1], report["hours_by_emotion"], "emotion", "hours")
    _bars(axes[2], report["hours_by_split"], "split", "hours")
    return fig


def _durations(durations: dict[str, Any]):
    fig, (ax,) = _figure(1)
    drawn = _hist(ax, durations["source"], "", "seconds", "source recordings (before segmentation)", COLOURS[1])
    drawn = _hist(ax, durations["segments"], "", "seconds", "samples (after segmentation)", COLOURS[0]) or drawn
    if drawn:
        ax.legend(fontsize=8)
    return fig


def _caption_words(dist: dict[str, Any]):
    fig, (ax,) = _figure(1)
    _hist(ax, dist, "", "words per caption")
    return fig


def _captions(report: dict[str, Any]):
    fig, axes = _figure(2)
    _bars(axes[0], report["captions_by_origin"], "by origin", "captions")
    languages = dict(list(report["captions_by_language"].items())[:12])
    _bars(axes[1], languages, "by language", "captions")
    fig.set_size_inches(9, 3)
    return fig


def _noise_mix(noise: dict[str, Any]):
    fig, axes = _figure(2)
    _hist(axes[0], noise["snr_db"], "SNR", "dB")
    _hist(axes[1], noise["lambda"], "noise weight λ", "λ", colour=COLOURS[1])
    fig.set_size_inches(9, 3)
    return fig


def _quality(quality: dict[str, Any]):
    distributions = quality["distributions"] or {"measured filters": {"count": 0}}
    fig, axes = _figure(len(distributions))
    for i, (measure, dist) in enumerate(distributions.items()):
        _hist(
            axes[i],
            dist,
            measure,
            measure.rsplit("_", 1)[-1] if "_" in measure else "",
            colour=COLOURS[i % len(COLOURS)],
        )
    fig.set_size_inches(max(9, 3.2 * len(distributions)), 3)
    return fig


def _augmentations(augmentations: dict[str, Any]):
    values = {"(original, none)": augmentations["original_samples"], **augmentations["by_name"]}
    return _one_bar(values, "samples", True)
