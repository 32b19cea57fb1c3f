"""The command line: bad arguments exit non-zero with one line, before any work; runners agree."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.cli import main

ROOT = Path(__file__).resolve().parents[2]


def clara(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=600
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["shards", "--source", "nope"], "unknown source 'nope'"),
        (["shards", "--source", "demo", "--input", "/does/not/exist"], "does not exist"),
        (["shards", "--lang", "xx"], "no voice for language 'xx'"),
        (["shards", "--split-fractions", "0.5,0.5"], "--split-fractions"),
        (["shards", "--shard-size", "0"], "must be positive"),
        (["frobnicate"], "unknown command"),
    ],
)
def test_bad_arguments_exit_2_with_one_clear_line(args, message, capsys, tmp_path):
    code = main([*args, "--output", str(tmp_path)] if args[0] == "shards" else args)
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert message in err and len(err.splitlines()) == 1
    assert not any(tmp_path.iterdir())  # no work started


def test_unwritable_output_is_refused_before_work(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["shards", "--output", str(blocker / "sub")]) == 2
    assert "not writable" in capsys.readouterr().err


def test_help_explains_the_commands(capsys):
    assert main(["--help"]) == 0
    assert "shards" in capsys.readouterr().out
    with pytest.raises(SystemExit) as stop:
        main(["shards", "--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert "--lang" in out and "--shard-size" in out and "--runner" in out


def test_list_sources_names_the_demo(capsys):
    assert main(["shards", "--list-sources"]) == 0
    assert "demo" in capsys.readouterr().out


@pytest.mark.slow
def test_direct_and_portable_runners_write_identical_shards_and_report_metrics(tmp_path):
    common = ["shards", "--lang", "de", "--demo-items", "8", "--shard-size", "3", "--workers", "2"]
    direct = clara(*common, "--output", str(tmp_path / "direct"), "--runner", "direct")
    portable = clara(*common, "--output", str(tmp_path / "portable"), "--runner", "portable")
    assert direct.returncode == 0, direct.stderr[-2000:]
    assert portable.returncode == 0, portable.stderr[-2000:]
    for out in (direct.stdout, portable.stdout):
        assert "reconciled       yes: 8 in = 8 written + 0 failed" in out
        assert "written, 0 skipped" in out  # metrics came back from the runner
    tars = sorted((tmp_path / "direct").rglob("*.tar"))
    assert len(tars) >= 3
    for tar in tars:
        twin = tmp_path / "portable" / tar.relative_to(tmp_path / "direct")
        assert tar.read_bytes() == twin.read_bytes(), tar.name


def test_validate_passes_good_shards_and_names_problems_in_broken_ones(tmp_path):
    assert (
        main(["shards", "--demo-items", "6", "--output", str(tmp_path), "--workers", "1", "--split-fractions", "1,0,0"])
        == 0
    )
    corpus = tmp_path / "demo-en"
    assert clara("validate", str(tmp_path)).returncode == 0
    tar = corpus / "train" / "000000.tar"
    good = tar.read_bytes()

    # a JSON that breaks the schema
    import io
    import tarfile

    members = []
    with tarfile.open(fileobj=io.BytesIO(good)) as t:
        for m in t.getmembers():
            members.append((m, t.extractfile(m).read()))
    name, data = members[1][0].name, members[1][1]
    meta = json.loads(data)
    meta["sample_rate"] = 44100
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        for m, d in members:
            d = json.dumps(meta).encode() if m.name == name else d
            m.size = len(d)
            t.addfile(m, io.BytesIO(d))
    tar.write_bytes(buf.getvalue())
    bad = clara("validate", str(corpus))
    assert bad.returncode == 1 and "violates the schema at sample_rate" in bad.stderr

    # members out of order / a missing marker / sizes.json disagreeing
    tar.write_bytes(good)
    (corpus / "train" / "000000.stats.json").unlink()
    (corpus / "train" / "sizes.json").write_text('{"000000.tar": 99}')
    bad = clara("validate", str(corpus))
    assert bad.returncode == 1
    assert "no commit marker" in bad.stderr and "says 99 samples" in bad.stderr


def test_validate_refuses_path_members(tmp_path):
    import io
    import tarfile

    d = tmp_path / "c" / "train"
    d.mkdir(parents=True)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        info = tarfile.TarInfo("../evil.json")
        info.size = 2
        t.addfile(info, io.BytesIO(b"{}"))
    (d / "000000.tar").write_bytes(buf.getvalue())
    result = clara("validate", str(tmp_path / "c"))
    assert result.returncode == 1 and "is a path" in result.stderr


def test_the_run_summary_shows_llm_answers_rejected_by_check(tmp_path):
    from types import SimpleNamespace

    from pipelines import sink
    from pipelines.cli import summarize

    sink.finalize(str(tmp_path), "t", [], [], {})

    def counter(namespace: str, name: str, value: int) -> SimpleNamespace:
        metric = SimpleNamespace(namespace=namespace, name=name)
        return SimpleNamespace(key=SimpleNamespace(metric=metric), committed=value, attempted=value)

    counters = [
        counter("rewrite", "accepted", 7),
        counter("rewrite_rejected", "speech_added", 2),
        counter("rewrite_rejected", "label_dropped", 1),
    ]
    result = SimpleNamespace(
        metrics=lambda: SimpleNamespace(query=lambda *a: {"counters": counters, "distributions": []})
    )
    text = summarize(str(tmp_path), result, 1.0)["text"]
    assert "rewrite                         7 of 10" in text
    assert "rewrite_rejected/speech_added" in text and "rewrite_rejected/label_dropped" in text
