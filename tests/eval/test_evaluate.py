"""The ``model.evaluate`` command line: JSON with spelled-out metric names and paper-style tables."""

from __future__ import annotations

import json

import pytest

from model import evaluate


def test_zeroshot_retrieval_probe_and_kws_write_json_and_markdown(tiny_run, eval_shards, tmp_path):
    out = tmp_path / "eval"
    code = evaluate.main(
        ["--checkpoint", str(tiny_run), "--task", "zeroshot,retrieval,probe,kws", "--data", str(eval_shards),
         "--out", str(out), "--device", "cpu", "--probe-epochs", "3", "--probe-head", "linear"]
    )  # fmt: skip
    assert code == 0
    zs = json.loads((out / "zeroshot.json").read_text())
    assert set(zs["result"]["tasks"]) == {"language", "gender", "emotion"}
    assert "zeroshot/gender/top1_accuracy" in zs["metrics"]
    retrieval = json.loads((out / "retrieval.json").read_text())
    assert retrieval["result"]["clips"] == 12 and retrieval["result"]["texts"] == 12
    assert {"text_to_audio/R@10", "audio_to_text/R@1", "text_to_audio/median_rank"} <= set(retrieval["metrics"])
    assert (
        "| Model | Retrieval Dataset | A→T R@1 | R@5 | R@10 | T→A R@1 | R@5 | R@10 |"
        in (out / "retrieval.md").read_text()
    )
    probe = json.loads((out / "probe.json").read_text())
    assert probe["result"]["tasks"]["gender"]["heads"]["linear"]["epochs_run"] <= 3
    # Every figure has its baselines beside it: chance and majority, and for retrieval the attribute-only one.
    assert zs["metrics"]["zeroshot/gender/baseline/chance"] == 100 / len(zs["result"]["tasks"]["gender"]["labels"])
    assert "zeroshot/gender/baseline/majority" in zs["metrics"] and "probe/gender/baseline/majority" in probe["metrics"]
    assert retrieval["metrics"]["baseline/chance/text_to_audio/R@1"] == pytest.approx(100 / 12)
    attribute = retrieval["metrics"]["baseline/attribute_only/text_to_audio/R@1"]
    assert 100 / 12 <= attribute <= 100
    assert "| baseline: attribute_only |" in (out / "retrieval.md").read_text()
    # ... and the one that hears only language and gender, never above attribute-only (coarser groups).
    speaker = retrieval["metrics"]["baseline/language_gender_only/text_to_audio/R@1"]
    assert 100 / 12 <= speaker <= attribute
    assert "| baseline: language_gender_only |" in (out / "retrieval.md").read_text()
    kws = json.loads((out / "kws.json").read_text())
    rows = {r["code"]: r for r in kws["result"]["languages"]}
    assert set(rows) == {"en", "fr"} and rows["en"]["keywords"] == 3
    assert rows["fr"]["training_hours"] > 0
    assert (
        "| Language | Code | Language Family | Script | Training Sample (Hours) | Accuracy |"
        in (out / "kws.md").read_text()
    )


def test_five_caption_protocol_and_caption_filters(tiny_run, eval_shards, tmp_path):
    out = tmp_path / "eval"
    args = ["--checkpoint", str(tiny_run), "--task", "retrieval", "--data", str(eval_shards), "--out", str(out)]
    assert evaluate.main([*args, "--captions", "all"]) == 0
    assert json.loads((out / "retrieval.json").read_text())["result"]["texts"] == 24
    assert evaluate.main([*args, "--captions", "all", "--caption-origin", "transcript"]) == 0
    assert json.loads((out / "retrieval.json").read_text())["result"]["texts"] == 12
    # toy clips have two captions: none qualifies for the 5-caption protocol
    assert evaluate.main([*args, "--captions", "protocol"]) == 2


def test_unknown_task_is_a_clear_error(tiny_run, eval_shards, capsys):
    assert evaluate.main(["--checkpoint", str(tiny_run), "--task", "dance", "--data", str(eval_shards)]) == 2
    assert "unknown task" in capsys.readouterr().err


def test_probe_without_a_valid_split_holds_out_every_tenth_train_clip(tiny_run, tmp_path):
    from tests.eval.conftest import write_eval_shards

    shards = write_eval_shards(tmp_path / "shards", {"train": 24, "test": 12})
    out = tmp_path / "eval"
    code = evaluate.main(
        ["--checkpoint", str(tiny_run), "--task", "probe", "--data", str(shards), "--out", str(out),
         "--device", "cpu", "--probe-epochs", "2", "--probe-head", "linear", "--classes", "gender"]
    )  # fmt: skip
    assert code == 0
    clips = json.loads((out / "probe.json").read_text())["result"]["tasks"]["gender"]["clips"]
    assert clips == {"train": 21, "valid": 3, "test": 12}
