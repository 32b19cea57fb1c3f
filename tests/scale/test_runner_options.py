"""Runner names become the right Beam pipeline options; user flags win; deploy files lint clean."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.runner import runner_args

ROOT = Path(__file__).resolve().parents[2]


def _opts(runner: str, beam_args: list[str] | None = None, workers: int = 2, env: str | None = None) -> dict:
    return PipelineOptions(runner_args(runner, workers, beam_args or [], env)).get_all_options()


def test_direct_runner_runs_a_few_workers_as_threads_and_many_as_processes():
    opts = _opts("direct", workers=4)
    assert opts["runner"] == "DirectRunner"
    assert opts["direct_running_mode"] == "multi_threading" and opts["direct_num_workers"] == 4
    many = _opts("direct", workers=16)
    assert many["direct_running_mode"] == "multi_processing" and many["direct_num_workers"] == 16
    assert _opts("direct", workers=1)["direct_running_mode"] == "in_memory"
    chosen = _opts("direct", ["--direct_running_mode=multi_processing"], workers=2)
    assert chosen["direct_running_mode"] == "multi_processing"


def test_portable_runner_uses_embedded_job_service_and_external_worker_pool():
    opts = _opts("portable", env="localhost:50000")
    assert opts["runner"] == "PortableRunner" and opts["job_endpoint"] == "embed"
    assert opts["environment_type"] == "EXTERNAL" and opts["environment_config"] == "localhost:50000"


def test_dataflow_options_pass_through_and_ship_the_code():
    args = [
        "--project=p",
        "--region=europe-west4",
        "--temp_location=gs://b/tmp",
        "--max_num_workers=100",
        "--machine_type=n2-standard-8",
    ]
    opts = _opts("dataflow", args)
    assert opts["runner"] == "DataflowRunner" and opts["project"] == "p" and opts["max_num_workers"] == 100
    assert opts["setup_file"].endswith("setup.py") and Path(opts["setup_file"]).exists()
    # the package's base requirements are minimal: workers get the pipeline extra's packages too
    assert opts["requirements_file"].endswith("requirements-pipeline.txt") and Path(opts["requirements_file"]).exists()
    with_image = _opts("dataflow", [*args, "--sdk_container_image=gcr.io/p/clara:1"])
    assert with_image["setup_file"] is None and with_image["sdk_container_image"] == "gcr.io/p/clara:1"
    assert with_image["requirements_file"] is None


def test_flink_runner_points_at_the_master_and_an_sdk_pool():
    opts = _opts("flink", ["--flink_master=jm:8081"], env="pool:50000")
    assert (
        opts["runner"] == "FlinkRunner"
        and opts["flink_master"] == "jm:8081"
        and opts["environment_config"] == "pool:50000"
    )


def test_user_flags_win_over_defaults():
    assert _opts("direct", ["--direct_num_workers=7"])["direct_num_workers"] == 7


def test_unknown_runner_is_refused():
    with pytest.raises(ValueError, match="unknown runner"):
        runner_args("spark-ish", 2, [])
    with pytest.raises(ValueError, match="no class NoSuchRunner"):
        runner_args("apache_beam.runners.NoSuchRunner", 2, [])


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("SparkRunner", "SparkRunner"),
        ("PrismRunner", "PrismRunner"),
        ("spark", "SparkRunner"),
        ("DirectRunner", "DirectRunner"),
        (
            "apache_beam.runners.portability.fn_api_runner.FnApiRunner",
            "apache_beam.runners.portability.fn_api_runner.FnApiRunner",
        ),
    ],
)
def test_any_beam_runner_class_name_passes_through(given, expected):
    args = runner_args(given, 2, ["--spark_master_url=spark://m:7077"])
    assert f"--runner={expected}" in args and "--spark_master_url=spark://m:7077" in args
    assert PipelineOptions(args).get_all_options()["runner"] == expected


def test_a_runner_beam_does_not_know_is_a_bad_argument_before_any_work():
    from pipelines.options import config_from

    assert config_from({"run.runner": "SparkRunner"}).run.runner == "SparkRunner"
    with pytest.raises(ValueError, match="unknown runner 'sparky'"):
        config_from({"run.runner": "sparky"})


def test_no_secrets_in_the_launcher_output(tmp_path, capsys):
    from pipelines.cli import main

    code = main(
        [
            "shards",
            "--demo-items",
            "2",
            "--workers",
            "1",
            "--output",
            str(tmp_path),
            "--s3_secret_access_key=SUPERSECRET",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0 and "SUPERSECRET" not in captured.out + captured.err


@pytest.mark.skipif(
    shutil.which("hadolint") is None and not (ROOT / ".venv/bin/hadolint").exists(), reason="hadolint not installed"
)
def test_worker_dockerfiles_pass_hadolint():
    binary = shutil.which("hadolint") or str(ROOT / ".venv/bin/hadolint")
    files = [str(ROOT / "deploy/docker/Dockerfile"), str(ROOT / "deploy/docker/Dockerfile.cuda")]
    result = subprocess.run(
        [binary, "--config", str(ROOT / "deploy/docker/.hadolint.yaml"), *files], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("argv", "fast"), [(["shards", "--source", "demo"], True), (["train"], False)])
def test_a_finished_shard_build_ends_its_process_without_the_interpreters_teardown(monkeypatch, argv, fast):
    """``python -m pipelines.cli shards`` exits with os._exit once main() returned (all written and
    closed): Beam's gRPC teardown at interpreter exit cost ~0.4 s a build. Other commands exit plainly."""
    from pipelines import cli

    calls: list[tuple[str, int]] = []
    monkeypatch.setattr(cli, "main", lambda: 3)
    monkeypatch.setattr(cli.sys, "argv", ["clara", *argv])
    monkeypatch.setattr(cli.os, "_exit", lambda code: calls.append(("os._exit", code)))
    with pytest.raises(SystemExit) as exited:  # the stand-in os._exit returns; sys.exit follows it
        cli.run()
    assert exited.value.code == 3
    assert calls == ([("os._exit", 3)] if fast else [])
