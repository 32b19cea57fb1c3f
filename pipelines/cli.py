"""``clara``: the command line of clara-corpus.

    clara shards   build WebDataset shards from a dataset (default: the embedded TTS demo)
    clara validate check shards against the contract
    clara corpus   build, inspect or check a multi-dataset corpus from a recipe (recipes/)
    clara train    train the CLARA encoders on shards (model/)

Bad arguments are reported in one line with a non-zero exit, before any work starts.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from typing import Any

EXIT_USAGE = 2


class UsageError(Exception):
    """A bad argument: one line, exit 2."""


def _shards_parser() -> argparse.ArgumentParser:
    from pipelines.options import BuildConfig
    from schemas.settings import add_flags

    parser = argparse.ArgumentParser(
        prog="clara shards",
        description="Build a sharded WebDataset corpus (48 kHz FLAC + JSON) from a dataset. "
        "With no --source it synthesises the embedded multilingual demo corpus for --lang. "
        "Settings come from their defaults, then the source's own defaults, then --config, then the "
        "flags, then --set. Any other Beam pipeline option (--project, --temp_location, --flink_master, ...) "
        "passes through. Flags marked [not fingerprinted] never invalidate a finished shard: they only say how "
        "the build runs, or which items it reads (items are fingerprinted themselves).",
        allow_abbrev=False,  # an abbreviation must never swallow a Beam flag
    )
    parser.add_argument(
        "--list-sources", action="store_true", help="list the dataset adapters and their expected layouts, then exit"
    )
    parser.add_argument(
        "--config", metavar="BUILD.YAML", help="settings as YAML: {section: {field: value}} (sections below)"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.FIELD=VALUE",
        help="one setting by its section and field, e.g. --set segment.aligner=whisper (repeatable)",
    )
    add_flags(parser, BuildConfig)
    return parser


def resolve_config(args: argparse.Namespace, source_defaults: dict[str, Any] | None = None) -> Any:
    """The build config: defaults < the source's defaults < --config YAML < flags < --set.

    Only values someone gave form a layer, so a flag equal to its default still wins over the
    source's default (``--augment none`` on the demo means none).
    """
    from pipelines.options import BuildConfig, build_config
    from schemas.settings import given_in_namespace, layer_from_names, load_yaml, parse_assignments

    user = [
        load_yaml(args.config) if args.config else {},
        given_in_namespace(args),
        parse_assignments(args.set),
    ]
    return build_config(layer_from_names(BuildConfig, source_defaults or {}), *user)


def configure_filesystems(beam_args: list[str]) -> None:
    """Give Beam's FileSystems (s3://, gs://) the options the workers get, for the launcher's own I/O."""
    from transforms import storage

    storage.configure(beam_args)


def _check_output(out: str) -> None:
    from transforms import storage

    probe = storage.join(out, f".clara-write-probe-{os.getpid()}")
    try:
        if "://" not in out:
            os.makedirs(out, exist_ok=True)
        with storage.create(probe) as f:
            f.write(b"ok")
        storage.delete([probe])
    except Exception as exc:
        raise UsageError(f"output {out!r} is not writable: {type(exc).__name__}: {exc}") from None


def _make_source(corpus: Any) -> Any:  # a Source
    from pipelines.sources.base import SourceError, SourceSettings, make_source

    settings = SourceSettings(
        input=corpus.input,
        language=corpus.lang,
        seed=corpus.seed,
        limit=corpus.limit,
        options=corpus.adapter_options(),
    )
    try:
        source = make_source(corpus.source, settings)
        if corpus.input and "://" not in corpus.input and not os.path.isdir(corpus.input):
            raise SourceError(f"input folder {corpus.input!r} does not exist")
        source.check()
    except SourceError as exc:
        raise UsageError(str(exc)) from None
    return source


def cmd_shards(argv: list[str]) -> int:
    from apache_beam.io.filesystems import FileSystems

    from pipelines.options import with_run_paths
    from pipelines.sources.base import list_sources
    from pipelines.stages import check_stages

    parser = _shards_parser()
    args, beam_args = parser.parse_known_args(argv)
    configure_filesystems(beam_args)
    if args.list_sources:
        for name, description, layout in list_sources():
            print(f"{name:16s} {description}\n{'':16s} layout: {layout}")
        return 0
    try:
        users_only = resolve_config(args)
        source = _make_source(users_only.corpus)
        config = resolve_config(args, source.stage_defaults)
        if config.corpus != users_only.corpus:  # the source's defaults changed what it reads
            source = _make_source(config.corpus)
        check_stages(config)
    except (ValueError, KeyError, OSError) as exc:
        raise UsageError(str(exc)) from None
    name = config.run.name or f"{config.corpus.source}-{config.corpus.lang}"
    root = config.run.output if "://" in config.run.output else os.path.abspath(config.run.output)
    out = FileSystems.join(root, name)
    config = with_run_paths(config, out)  # the LLM answer cache inside the corpus folder, for every worker
    _check_output(out)
    _check_screen_and_retry(config, out)
    return run_build(source, out, name, config, beam_args)


def _check_screen_and_retry(config: Any, out: str) -> None:
    """--exclude-eval sets that exist; --retry-failures on a corpus that has failures to retry."""
    from pipelines import retry
    from pipelines.dedupe import parse_eval_sets

    try:
        parse_eval_sets(config.screen.exclude_eval)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if config.run.retry_failures:
        if config.run.overwrite:
            raise UsageError("--retry-failures adds shards to a corpus; it does not go with --overwrite")
        if not retry.failure_files(out):
            raise UsageError(f"--retry-failures: {out} has no failures/*.jsonl to retry (was it built here?)")


def run_build(source, out: str, name: str, config, beam_args: list[str]) -> int:
    """Build ``source`` into ``out`` with a ``BuildConfig``; Beam's own flags in ``beam_args``.
    The build holds the folder's lease (``pipelines/commit.py``): a second build into it while
    this one runs is refused with one line naming this run."""
    from pipelines import commit

    try:
        with commit.output_lease(out) as run_id:
            return _run_leased(source, out, name, config, beam_args, run_id)
    except commit.LeaseHeld as exc:
        raise UsageError(str(exc)) from None


def _run_leased(source, out: str, name: str, config, beam_args: list[str], run_id: str) -> int:
    import contextlib

    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines.build_shards import build_pipeline
    from pipelines.local_shuffle import prepare_local_workers
    from pipelines.runner import runner_args, worker_pool

    run = config.run
    started = time.monotonic()
    print(
        f"[clara] building {out} from source '{config.corpus.source}' on the {run.runner} runner (run {run_id})"
        + (f"; LLM answer cache: {config.llm.cache_dir}" if config.llm.enabled and config.llm.cache_dir else ""),
        file=sys.stderr,
        flush=True,
    )
    given_pool = run.environment_config
    pool = worker_pool() if run.runner == "portable" and not given_pool else contextlib.nullcontext(given_pool)
    with pool as env_config:
        options = PipelineOptions(runner_args(run.runner, run.workers, beam_args, env_config))
        prepare_local_workers(options)  # local worker processes: bounded bundles, glibc settings
        pipeline = beam.Pipeline(options=options)
        build_pipeline(pipeline, source.expand(pipeline), out, name, config)
        result = pipeline.run()
        result.wait_until_finish()
    summary = summarize(out, result, time.monotonic() - started)
    print(summary["text"], flush=True)
    return 0 if summary["reconciled"] else 1


def _metric_totals(result) -> dict[str, int]:
    totals: dict[str, int] = {}
    try:
        for counter in result.metrics().query()["counters"]:
            name = f"{counter.key.metric.namespace}/{counter.key.metric.name}"
            value = counter.committed if counter.committed is not None else counter.attempted
            totals[name] = totals.get(name, 0) + int(value or 0)
    except Exception:  # some runners report no metrics
        pass
    return totals


def _stage_figures(result) -> list[str]:
    try:
        metrics = result.metrics().query()
    except Exception:  # a runner without metrics
        return []
    counts: dict[str, dict[str, int]] = {}
    for c in metrics["counters"]:
        if c.key.metric.namespace == "stage":
            name, kind = c.key.metric.name.rsplit("/", 1)
            counts.setdefault(name, {})[kind] = counts.get(name, {}).get(kind, 0) + int(c.committed or c.attempted or 0)
    latency: dict[str, float] = {}
    for d in metrics["distributions"]:
        if d.key.metric.namespace == "stage" and d.key.metric.name.endswith("/batch_ms"):
            value = d.committed or d.attempted
            if value and value.count:
                latency[d.key.metric.name.rsplit("/", 1)[0]] = value.sum / value.count
    return [
        f"    {name:26s} {c.get('in', 0):>6d} -> {c.get('out', 0):<6d} {latency.get(name, 0):8.0f} ms/batch"
        for name, c in counts.items()
    ]


def summarize(out: str, result, wall_s: float) -> dict[str, Any]:
    from apache_beam.io.filesystems import FileSystems

    from transforms.storage import read_text

    card = json.loads(read_text(FileSystems.join(out, "dataset_card.json")))
    t = card["totals"]
    metrics = _metric_totals(result)
    written = metrics.get("clara/shards_written")
    skipped = metrics.get("clara/shards_skipped")
    lines = [
        "",
        f"clara shards: {out}",
        f"  items in         {t['items_in']}",
        f"  samples written  {t['samples']}  ({t['hours']:.3f} h of audio, {t['bytes'] / 1e6:.1f} MB)",
        f"  items failed     {t['items_failed']}  (details in {FileSystems.join(out, 'failures')})",
    ]
    for reason, count in card["failures_by_reason"].items():
        lines.append(f"    {reason:28s} {count}")
    shards_total = sum(s["shards"] for s in card["splits"].values())
    lines.append(
        f"  shards           {shards_total}"
        + (f"  ({written or 0} written, {skipped or 0} skipped as already complete)" if metrics else "")
    )
    check = "yes" if t["reconciled"] else "NO"
    lines.append(
        f"  reconciled       {check}: {t['items_in']} in = {t['items_ok']} written + {t['items_failed']} failed"
    )
    stage_lines = _stage_figures(result)
    if stage_lines:
        lines.append("  stages           samples in -> out, mean batch latency")
        lines.extend(stage_lines)
    from transforms.fidelity import summary_lines as llm_summary_lines

    lines.extend(llm_summary_lines(metrics))  # LLM answers accepted, rejected by check, failed
    from transforms.segment.recovery import summary_lines as asr_summary_lines

    lines.extend(asr_summary_lines(metrics))  # Whisper chunks decoded again; lack-of-text anomalies
    for eval_set, count in card.get("eval_decontamination", {}).items():
        lines.append(f"  eval overlap     {count} items removed for overlapping {eval_set}")
    if card.get("retries"):
        last = card["retries"][-1]
        lines.append(
            f"  retry run {last['run']}      {last['retried']} failed items retried: {last['recovered']} landed "
            f"({', '.join(last['shards']) or 'no shards'}), {last['failed_again']} failed again"
        )
    lines.append(f"  wall time        {wall_s:.1f} s")
    return {"text": "\n".join(lines), "reconciled": t["reconciled"], "card": card, "metrics": metrics}


def cmd_validate(argv: list[str]) -> int:
    from pipelines.validate import main as validate_main

    return validate_main(argv)


def cmd_report(argv: list[str]) -> int:
    from pipelines.report import main as report_main

    return int(report_main(argv) or 0)


def cmd_corpus(argv: list[str]) -> int:
    from pipelines.corpus import main as corpus_main

    return corpus_main(argv)


def cmd_train(argv: list[str]) -> int:
    from model.train import main as train_main

    return int(train_main(argv) or 0)


def cmd_eval(argv: list[str]) -> int:
    from model.evaluate import main as eval_main

    return int(eval_main(argv) or 0)


COMMANDS = {
    "shards": (cmd_shards, "build WebDataset shards from a dataset (default: the embedded TTS demo corpus)"),
    "validate": (cmd_validate, "check shards against the data contract"),
    "report": (cmd_report, "write an HTML/JSON report (Table VII-style statistics, plots, samples) of built shards"),
    "corpus": (cmd_corpus, "build | status | validate a multi-dataset corpus from a recipe (recipes/*.yaml)"),
    "train": (cmd_train, "train the CLARA encoders on shards"),
    "eval": (cmd_eval, "evaluate a checkpoint: zero-shot, linear probe, retrieval, keyword spotting"),
}


class _QuietImports(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return "apitools not found" not in message and "Discarding unparseable args" not in message


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(_QuietImports())
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: clara <command> [options]\n\ncommands:")
        for name, (_, help_text) in COMMANDS.items():
            print(f"  {name:10s} {help_text}")
        print("\n`clara <command> --help` explains a command.")
        return 0 if argv else EXIT_USAGE
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"clara: unknown command {command!r} (one of {', '.join(COMMANDS)})", file=sys.stderr)
        return EXIT_USAGE
    try:
        return COMMANDS[command][0](rest)
    except UsageError as exc:
        print(f"clara {command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


FAST_EXIT = ("shards", "corpus")
"""Commands whose process ends without the interpreter's teardown once their work is written."""


def run() -> None:
    """``python -m pipelines.cli``: :func:`main`, then exit. After ``shards`` the process ends at
    once: every output is written and closed by then, and tearing down Beam's gRPC servers,
    channels and thread pools at interpreter exit would only add to every build's wall time.
    Other commands (training's loader workers, checkpoint writers) exit the ordinary way."""
    code = main()
    argv = sys.argv[1:]
    if argv and argv[0] in FAST_EXIT:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        logging.shutdown()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    run()
