"""``clara corpus build|status|validate RECIPE``: one recipe builds a whole multi-dataset corpus.

Each dataset of the recipe (``pipelines/corpus_recipe.py``) is built like ``clara shards`` into
``<output>/<name>``, in recipe order, with its items first screened against the datasets before it
and the recipe's eval sets (``pipelines/corpus_screen.py``). A dataset is built when it is missing
or stale and skipped otherwise, without touching its files. Stale means one of its fingerprints
changed:

- ``inputs``: the listing of its input folder (paths, sizes, modification times);
- ``items``: the settings that choose its items (adapter, language, seed, limit, adapter options);
- ``settings``: the output-shaping settings (``pipelines.options.output_shaping``, what a shard's
  fingerprint hashes) and its own screen settings;
- ``context``: what it is screened against: each earlier dataset as last built (its ``items`` and
  ``inputs``) and each eval set's items. A change in an earlier dataset's shard settings leaves
  the later ones alone; a change in what it holds makes them stale.

A stale or missing dataset is built into ``_corpus/partial/<name>`` (with its side file) and moved
into place only when its build succeeded (out of the root's listing meanwhile: a trainer reading
the root never sees half a dataset), so a failed build leaves the previous one as it
was; a dataset whose build fails is recorded as such and the others are built. Then ``corpus.json``
and ``corpus_card.{json,md}`` (``pipelines/corpus_manifest.py``) are written, each only when its
bytes change.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import sys
import time
from typing import Any

from pipelines.corpus_manifest import (
    CARD,
    MANIFEST,
    STATE_DIR,
    card_markdown,
    check_manifest,
    corpus_card,
    dataset_entry,
    dumps,
    read_json,
    write_if_changed,
)
from pipelines.corpus_recipe import EvalSpec, Recipe, RecipeError, Unit, load_recipe, placeholder
from transforms import storage


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def listing(path: str | None) -> str:
    """Fingerprint of an input folder's listing: every file's relative path, size and mtime."""
    if not path:
        return digest(None)
    h = hashlib.sha256()
    if "://" not in path:
        for folder, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                full = os.path.join(folder, name)
                st = os.stat(full)
                h.update(f"{os.path.relpath(full, path)}\0{st.st_size}\0{int(st.st_mtime)}\n".encode())
    else:
        for full, (size, mtime) in sorted(storage.list_sized(storage.join(path, "**")).items()):
            h.update(f"{full[len(path) :]}\0{size}\0{int(mtime)}\n".encode())
    return h.hexdigest()[:16]


# ----------------------------------------------------------------------------- configs


def unit_config(recipe: Recipe, unit: Unit) -> Any:  # a BuildConfig
    """The build config of one dataset: defaults < the adapter's own defaults < the recipe's seed
    < the recipe's shared settings < the dataset's settings < its adapter, input, language, folder."""
    from pipelines.options import BuildConfig, build_config
    from pipelines.sources.base import source_class
    from schemas.settings import layer_from_names

    fixed: dict[str, dict[str, Any]] = {
        "corpus": {"source": unit.adapter, "input": unit.input, "lang": unit.language},
        "run": {"output": recipe.output, "name": unit.name},
    }
    if unit.options:
        fixed["corpus"]["source_options"] = tuple(f"{k}={v}" for k, v in sorted(unit.options.items()))
    defaults = layer_from_names(BuildConfig, source_class(unit.adapter).stage_defaults)
    return build_config(defaults, {"corpus": {"seed": recipe.seed}}, unit.settings, fixed)


def make_source(config: Any) -> Any:
    from pipelines.sources.base import SourceSettings
    from pipelines.sources.base import make_source as make

    c = config.corpus
    settings = SourceSettings(input=c.input, language=c.lang, seed=c.seed, limit=c.limit, options=c.adapter_options())
    return make(c.source, settings)


def items_settings(config: Any) -> dict[str, Any]:
    """What chooses a dataset's items: the whole corpus section but its input path, and decoding."""
    from dataclasses import asdict

    from pipelines.options import output_shaping

    corpus = {k: v for k, v in asdict(config.corpus).items() if k != "input"}
    return {"corpus": corpus, "decode": output_shaping(config).get("decode", {})}


UNAVAILABLE = "unavailable"
"""The fingerprint of an eval set whose input is still a placeholder: skipped until it is given
(then every dataset's ``context`` changes and each is screened against it)."""


def eval_input(recipe: Recipe, spec: EvalSpec) -> str | None:
    if spec.dataset:
        return next(u for u in recipe.units if u.dataset == spec.dataset).input
    return spec.input


def eval_fingerprint(recipe: Recipe, spec: EvalSpec) -> str:
    if placeholder(eval_input(recipe, spec)):
        return UNAVAILABLE
    if spec.dataset:
        units = [u for u in recipe.units if u.dataset == spec.dataset]
        items = [(listing(u.input), items_settings(unit_config(recipe, u))) for u in units]
        return digest([items, spec.splits, recipe.screen_audio])
    return digest([spec.adapter, listing(spec.input), spec.language, spec.options, spec.splits, recipe.screen_audio])


def fingerprints(
    recipe: Recipe, unit: Unit, config: Any, earlier: list[dict[str, Any]], evals: dict[str, str]
) -> dict[str, str]:
    """The four fingerprints of a dataset (see the module docstring); ``earlier``: the manifest
    records of the datasets before it, ``evals``: the eval sets' fingerprints."""
    from pipelines.options import output_shaping

    shaping = output_shaping(config)
    shaping["screen"] = {
        "dedupe_audio": config.screen.dedupe_audio,
        "exclude_eval": list(config.screen.exclude_eval),
        "max_distance": config.screen.dedupe_max_distance,
    }
    screen = [recipe.screen_origin, recipe.screen_audio, recipe.max_distance]
    context = [
        (e["name"], e.get("status"), e.get("fingerprints", {}).get("inputs"), e.get("fingerprints", {}).get("items"))
        for e in earlier
    ]
    mine = sorted((name, fp) for name, fp in evals.items() if not _own_eval(recipe, name, unit))
    return {
        "inputs": listing(unit.input),
        "items": digest(items_settings(config)),
        "settings": digest(shaping),
        "context": digest([screen, context, mine]),
    }


def _own_eval(recipe: Recipe, eval_name: str, unit: Unit) -> bool:
    """A dataset is never screened against an eval set made of its own items."""
    spec = next(s for s in recipe.evals if s.name == eval_name)
    return spec.dataset == unit.dataset


# ----------------------------------------------------------------------------- state


def load_manifest(root: str) -> dict[str, Any]:
    path = storage.join(root, MANIFEST)
    return read_json(path) if storage.exists(path) else {}


def status_of(root: str, unit: Unit, previous: dict[str, Any] | None, now: dict[str, str]) -> tuple[str, str]:
    """(built | stale | missing | failed, why)."""
    if previous is None or not storage.exists(storage.join(root, unit.name, "dataset_card.json")):
        if previous is not None and previous.get("status") == "failed":
            return "failed", previous.get("error", "")
        return "missing", "not built yet" if previous is None else "its folder is gone"
    if previous.get("status") == "failed":
        return "failed", previous.get("error", "")
    changed = [k for k, v in now.items() if previous.get("fingerprints", {}).get(k) != v]
    if changed:
        return "stale", ", ".join(f"{k} changed" for k in changed)
    return "built", ""


def plan(recipe: Recipe, manifest: dict[str, Any]) -> list[tuple[Unit, Any, dict[str, str], str, str]]:
    """Per dataset in recipe order: (unit, config, fingerprints, status, why) against the manifest;
    a dataset after one that a build would rebuild is judged against that rebuilt one (``make -n``)."""
    previous = {e["name"]: e for e in manifest.get("datasets", [])}
    evals = {spec.name: eval_fingerprint(recipe, spec) for spec in recipe.evals}
    rows, earlier = [], []
    for unit in recipe.units:
        config = unit_config(recipe, unit)
        now = fingerprints(recipe, unit, config, earlier, evals)
        status, why = status_of(recipe.output, unit, previous.get(unit.name), now)
        rows.append((unit, config, now, status, why))
        # the later datasets see this one as a build would leave it (a failed one: failed again)
        if status in ("built", "failed"):
            earlier.append(previous[unit.name])
        else:
            earlier.append({"name": unit.name, "status": "built", "fingerprints": now})
    return rows


# ----------------------------------------------------------------------------- building


def _run(config: Any, beam_args: list[str], add: Any) -> None:
    """One Beam pipeline on the config's runner; ``add(pipeline)`` builds its graph."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines.local_shuffle import prepare_local_workers
    from pipelines.runner import runner_args, worker_pool

    run = config.run
    given = run.environment_config
    pool = worker_pool() if run.runner == "portable" and not given else contextlib.nullcontext(given)
    with pool as env_config:
        options = PipelineOptions(runner_args(run.runner, run.workers, beam_args, env_config))
        prepare_local_workers(options)
        pipeline = beam.Pipeline(options=options)
        add(pipeline)
        pipeline.run().wait_until_finish()


def _remove(path: str) -> None:
    if "://" not in path:
        shutil.rmtree(path, ignore_errors=True)
    else:
        storage.delete(storage.list_files(storage.join(path, "**")))


def _swap(partial: str, final: str) -> None:
    """Move a finished build into place (local: a rename; object stores: it was built in place)."""
    if partial == final:
        return
    _remove(final)
    os.rename(partial, final)


def build_eval(recipe: Recipe, spec: EvalSpec, beam_args: list[str]) -> None:
    """An eval set's side file (origins and prints of its items in ``splits``): of a recipe dataset,
    one per language it is built in (``<name>/<dataset>-<lang>/``), else of the folder an adapter reads."""
    from pipelines.corpus_screen import SideOnly
    from pipelines.sources.base import SourceSettings
    from pipelines.sources.base import make_source as make

    folder = storage.join(recipe.output, STATE_DIR, "eval", spec.name)
    if spec.dataset:
        parts = []
        for unit in (u for u in recipe.units if u.dataset == spec.dataset):
            config = unit_config(recipe, unit)
            parts.append((config, make_source(config), storage.join(folder, unit.name)))
    else:
        config = unit_config(recipe, recipe.units[0])
        source = make(spec.adapter, SourceSettings(input=spec.input, language=spec.language, options=spec.options))
        parts = [(config, source, folder)]
    for _, source, _ in parts:
        source.check()
    _remove(folder)
    for config, source, out in parts:
        _run(
            config,
            beam_args,
            lambda p, config=config, source=source, out=out: (
                source.expand(p)
                | f"Eval {spec.name}" >> SideOnly(out, spec.splits, config.decode, None, recipe.screen_audio)
            ),
        )


def build_unit(
    recipe: Recipe, unit: Unit, config: Any, others: list[tuple[int, str, str]], beam_args: list[str]
) -> None:
    """Screen and build one dataset into ``_corpus/partial/<name>``, then move it and its side file into place."""
    from pipelines.build_shards import build_pipeline
    from pipelines.corpus_screen import CrossScreen
    from pipelines.options import with_run_paths
    from pipelines.stages import check_stages
    from transforms.fingerprint import MAX_DISTANCE

    if placeholder(unit.input):
        raise RecipeError(f"its input is still the placeholder {unit.input!r}")
    source = make_source(config)
    if unit.input and "://" not in unit.input and not os.path.isdir(unit.input):
        raise RecipeError(f"input folder {unit.input!r} does not exist")
    source.check()
    check_stages(config)
    root = recipe.output
    # the LLM answer cache outlives the dataset's folder, which a rebuild replaces
    config = with_run_paths(config, storage.join(root, STATE_DIR, "llm", unit.name))
    local = "://" not in root
    final, side = storage.join(root, unit.name), storage.join(root, STATE_DIR, "side", unit.name)
    partial = storage.join(root, STATE_DIR, "partial", unit.name)
    out, side_out = (partial, partial + ".side") if local else (final, side)
    for path in (out, side_out) if local else (final, side):
        _remove(path)
    if local:
        os.makedirs(out, exist_ok=True)
    max_distance = recipe.max_distance if recipe.max_distance is not None else MAX_DISTANCE

    def add(pipeline: Any) -> None:
        records = source.expand(pipeline) | "Cross-dataset screen" >> CrossScreen(
            others, side_out, config.decode, None, recipe.screen_origin, recipe.screen_audio, max_distance
        )
        build_pipeline(pipeline, records, out, unit.name, config)

    _run(config, beam_args, add)
    if not storage.exists(storage.join(out, "dataset_card.json")):
        raise RuntimeError("the build wrote no dataset card")
    if local:
        _swap(out, final)
        _remove(side)
        if os.path.isdir(side_out):
            os.makedirs(os.path.dirname(side), exist_ok=True)
            os.rename(side_out, side)


def build(recipe: Recipe, beam_args: list[str], only: set[str] | None = None, log: Any = sys.stderr) -> int:
    """Build what is missing or stale, write the manifest and the card; 0 when every dataset is built."""
    root = recipe.output
    if "://" not in root:
        os.makedirs(root, exist_ok=True)
    manifest = load_manifest(root)
    previous = {e["name"]: e for e in manifest.get("datasets", [])}
    eval_state = dict(manifest.get("eval", {}))
    for spec in recipe.evals:
        fp = eval_fingerprint(recipe, spec)
        folder = storage.join(root, STATE_DIR, "eval", spec.name)
        if fp == UNAVAILABLE:
            print(f"[corpus] eval set {spec.name}: its input is a placeholder, not screened against", file=log)
            eval_state[spec.name] = fp
            continue
        if eval_state.get(spec.name) != fp or not storage.exists(folder):
            print(f"[corpus] eval set {spec.name}: reading its items", file=log, flush=True)
            try:
                build_eval(recipe, spec, beam_args)
            except Exception as exc:  # no dataset is built unscreened
                error = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
                print(f"[corpus] eval set {spec.name}: FAILED: {error}; nothing built", file=log, flush=True)
                return 1
            eval_state[spec.name] = fp
    evals = {spec.name: eval_state[spec.name] for spec in recipe.evals}
    entries: list[dict[str, Any]] = []
    failed = 0
    for unit in recipe.units:
        config = unit_config(recipe, unit)
        now = fingerprints(recipe, unit, config, entries, evals)
        status, why = status_of(root, unit, previous.get(unit.name), now)
        if status == "built" or (only and unit.name not in only):
            entries.append(previous.get(unit.name) or {"name": unit.name, "status": "missing"})
            print(f"[corpus] {unit.name}: {status}{' (' + why + ')' if why else ''}, skipped", file=log, flush=True)
            continue
        print(f"[corpus] {unit.name}: {status} ({why}), building", file=log, flush=True)
        others = [
            (0, s.name, storage.join(root, STATE_DIR, "eval", s.name))
            for s in recipe.evals
            if evals[s.name] != UNAVAILABLE
        ]
        others = [o for o in others if not _own_eval(recipe, o[1], unit)]
        others += [
            (rank, e["name"], storage.join(root, STATE_DIR, "side", e["name"]))
            for rank, e in enumerate(entries, start=1)
            if e.get("status") == "built"
        ]
        started = time.monotonic()
        try:
            build_unit(recipe, unit, config, others, beam_args)
            entry = dataset_entry(unit, root, now)
        except Exception as exc:  # one dataset's failure must not lose the others' work
            failed += 1
            error = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            print(f"[corpus] {unit.name}: FAILED: {error}", file=log, flush=True)
            kept = previous.get(unit.name)
            entry = {**kept, "status": "failed", "error": error} if kept else {
                "name": unit.name, "status": "failed", "error": error, "fingerprints": {}
            }  # fmt: skip
        else:
            print(f"[corpus] {unit.name}: built in {time.monotonic() - started:.1f} s", file=log, flush=True)
        entries.append(entry)
    write_manifest(recipe, entries, eval_state)
    print(
        f"[corpus] {sum(e.get('status') == 'built' for e in entries)} of {len(entries)} datasets built, "
        f"{failed} failed; manifest {storage.join(root, MANIFEST)}",
        file=log,
        flush=True,
    )
    return 1 if failed else 0


def write_manifest(recipe: Recipe, entries: list[dict[str, Any]], eval_state: dict[str, str]) -> None:
    root = recipe.output
    built = [e for e in entries if e.get("status") == "built"]
    manifest = {
        "corpus": recipe.name,
        "recipe": os.path.abspath(recipe.path),
        "seed": recipe.seed,
        "datasets": entries,
        "eval": dict(sorted(eval_state.items())),
        "totals": {
            "datasets": len(built),
            "shards": sum(len(e["shards"]) for e in built),
            "samples": sum(e["samples"] for e in built),
            "hours": round(sum(e["hours"] for e in built), 4),
        },
    }
    write_if_changed(storage.join(root, MANIFEST), dumps(manifest))
    card = corpus_card(recipe.name, root, entries)
    write_if_changed(storage.join(root, f"{CARD}.json"), dumps(card))
    write_if_changed(storage.join(root, f"{CARD}.md"), card_markdown(card).encode())


# ----------------------------------------------------------------------------- command line


def status_lines(recipe: Recipe) -> list[str]:
    rows = plan(recipe, load_manifest(recipe.output))
    width = max(len(u.name) for u, *_ in rows)
    return [f"{unit.name:{width}s}  {status:7s}  {why}".rstrip() for unit, _, _, status, why in rows]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="clara corpus",
        description="Build, inspect or check a multi-dataset corpus from a recipe (recipes/*.yaml). "
        "Other arguments (Beam pipeline options) pass through to every dataset's build.",
    )
    parser.add_argument("action", choices=("build", "status", "validate"))
    parser.add_argument("recipe", help="the corpus recipe (YAML)")
    parser.add_argument("--only", action="append", default=[], metavar="DATASET", help="build only this dataset")
    args, beam_args = parser.parse_known_args(argv)
    try:
        recipe = load_recipe(args.recipe)
    except RecipeError as exc:
        print(f"clara corpus: error: {exc}", file=sys.stderr)
        return 2
    if args.action == "status":
        print("\n".join(status_lines(recipe)))
        return 0
    if args.action == "validate":
        problems = check_manifest(recipe.output)
        for problem in problems:
            print(f"clara corpus validate: {problem}", file=sys.stderr)
        print(f"{recipe.output}: {'OK' if not problems else f'{len(problems)} problem(s)'}")
        return 1 if problems else 0
    unknown = set(args.only) - {u.name for u in recipe.units}
    if unknown:
        print(
            f"clara corpus: error: --only names no dataset of the recipe: {', '.join(sorted(unknown))}", file=sys.stderr
        )
        return 2
    return build(recipe, beam_args, set(args.only) or None)
