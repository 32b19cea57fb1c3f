"""Typed settings, declared once: frozen dataclasses whose fields carry their help and flag.

A stage's settings are a frozen dataclass; each field is declared with :func:`setting`, which
records its help text, whether it **shapes the output bytes** (the shard fingerprint hashes only
those, so a run-only setting such as the runner, worker count, device or a timeout never
invalidates a finished shard) and, where the field name alone would read badly, its flag.

A *config* is a frozen dataclass whose fields are such sections (``config.segment.aligner``).
From its type this module generates:

- the command-line flags: one spelling each, ``--<field-name-with-dashes>`` unless the field
  names its own, grouped by section (:func:`add_flags`, :func:`given_in_namespace`);
- the YAML form, ``{section: {field: value}}`` (:func:`load_yaml`);
- ``--set section.field=value`` overrides (:func:`parse_assignments`), values read as YAML.

Layers are plain nested dicts of the values someone gave (nothing else), merged in order over
the dataclass defaults by :func:`build_config`; so a layer never has to guess whether a value
equal to the default was given on purpose. Values from text are coerced to the field's type,
then each section's ``__post_init__`` checks them.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from schemas.convert import coerce_value, field_types, optional_type

Layer = dict[str, dict[str, Any]]
"""Values someone gave, by section and field: ``{"segment": {"aligner": "whisper"}}``."""


def setting(
    default: Any,
    help: str,  # argparse's word
    *,
    shapes_output: bool,
    flag: str | None = None,
    choices: Iterable[str] | None = None,
    parse: Callable[[str], Any] | None = None,
    metavar: str | None = None,
    repeatable: bool = False,
) -> Any:
    """A settings field.

    ``shapes_output``: a change can change the bytes of a shard (hashed into its fingerprint).
    ``flag``: the flag's one spelling when not ``--<field-name-with-dashes>``.
    ``parse``: text (a flag, a ``--set`` value) to the field's value, when the type alone can't say.
    ``repeatable``: a tuple field given by repeating its flag (``--x a --x b``).
    """
    metadata = {
        "help": help,
        "shapes_output": shapes_output,
        "flag": flag,
        "choices": tuple(choices) if choices is not None else None,
        "parse": parse,
        "metavar": metavar,
        "repeatable": repeatable,
    }
    return dataclasses.field(default=default, metadata=metadata)


# ----------------------------------------------------------------------------- introspection


def sections(config_type: type) -> dict[str, type]:
    """``{section name: settings type}`` of a config type, in declaration order."""
    hints = typing.get_type_hints(config_type)
    return {f.name: hints[f.name] for f in dataclasses.fields(config_type)}


def settings_fields(settings_type: type) -> list[dataclasses.Field]:
    """The fields declared with :func:`setting` (other fields are internal)."""
    return [f for f in dataclasses.fields(settings_type) if "shapes_output" in f.metadata]


def flag_of(field: dataclasses.Field) -> str:
    return field.metadata.get("flag") or "--" + field.name.replace("_", "-")


def coerce(settings_type: type, name: str, value: Any) -> Any:
    """``value`` (from YAML, ``--set`` or a flag) as the type of field ``name``; ValueError when it isn't one."""
    field = {f.name: f for f in dataclasses.fields(settings_type)}[name]
    kind, optional = optional_type(field_types(settings_type)[name])
    where = f"{flag_of(field)} ({settings_type.__name__}.{name})"
    if value is None or (optional and isinstance(value, str) and value.strip().lower() in ("none", "null", "")):
        if optional:
            return None
        raise ValueError(f"{where}: a value is required")
    parse = field.metadata.get("parse")
    if parse is not None and isinstance(value, str):
        value = parse(value)
    else:
        if typing.get_origin(kind) is tuple and isinstance(value, str):
            value = [item.strip() for item in value.split(",") if item.strip()]
        value = coerce_value(kind, value, where)
    choices = field.metadata.get("choices")
    if choices and value not in choices:
        raise ValueError(f"{where}: {value!r} is not one of {', '.join(map(str, choices))}")
    return value


# ----------------------------------------------------------------------------- flags


def add_flags(parser: argparse.ArgumentParser, config_type: type) -> None:
    """One flag per settings field of every section, grouped by section.

    Flags default to ``argparse.SUPPRESS``: the namespace holds only what was given
    (:func:`given_in_namespace`), so defaults stay in one place, the dataclasses.
    """
    for section, settings_type in sections(config_type).items():
        title = (settings_type.__doc__ or section).strip().splitlines()[0].rstrip(".")
        group = parser.add_argument_group(f"{section}: {title}")
        defaults = settings_type()
        for field in settings_fields(settings_type):
            _add_flag(group, settings_type, section, field, getattr(defaults, field.name))


def _add_flag(group: Any, settings_type: type, section: str, field: dataclasses.Field, default: Any) -> None:
    kind, _ = optional_type(field_types(settings_type)[field.name])
    help_text = field.metadata["help"]
    if not field.metadata["shapes_output"]:
        help_text += " [not fingerprinted]"
    kwargs: dict[str, Any] = {"dest": f"{section}.{field.name}", "default": argparse.SUPPRESS}
    if kind is bool and not default:
        kwargs.update(action="store_true", help=help_text)
    else:
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        kwargs["help"] = f"{help_text} (default: {shown})" if shown not in (None, "", ()) else help_text
        choices = field.metadata.get("choices")
        kwargs["metavar"] = field.metadata.get("metavar") or ("{" + ",".join(choices) + "}" if choices else None)
        kwargs["metavar"] = kwargs["metavar"] or {int: "N", float: "X"}.get(kind, "TEXT")
        if field.metadata.get("repeatable"):
            kwargs["action"] = "append"
        else:
            kwargs["type"] = _Checked(settings_type, field.name)
    group.add_argument(flag_of(field), **kwargs)


class _Checked:
    """argparse ``type=``: coerce and check a flag's text, so a bad value is argparse's one-line error."""

    def __init__(self, settings_type: type, name: str) -> None:
        self.settings_type, self.name = settings_type, name
        self.__name__ = name  # argparse names the type in its message

    def __call__(self, text: str) -> Any:
        try:
            return coerce(self.settings_type, self.name, text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None


def given_in_namespace(namespace: argparse.Namespace) -> Layer:
    """The settings given on the command line, as a layer (flags are ``section.field`` dests)."""
    layer: Layer = {}
    for dest, value in vars(namespace).items():
        if "." in dest:
            section, name = dest.split(".", 1)
            layer.setdefault(section, {})[name] = tuple(value) if isinstance(value, list) else value
    return layer


# ----------------------------------------------------------------------------- YAML and --set


def load_yaml(path: str | Path) -> Layer:
    """A YAML file of ``{section: {field: value}}``."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ValueError(f"{path}: expected a mapping of sections to mappings of settings")
    return {str(section): dict(values) for section, values in data.items()}


def parse_assignments(assignments: Iterable[str]) -> Layer:
    """``["segment.aligner=whisper", "plan.shard_size=64"]`` → a layer; values are read as YAML."""
    layer: Layer = {}
    for item in assignments:
        dotted, sep, raw = item.partition("=")
        section, dot, name = dotted.strip().partition(".")
        if not sep or not dot or not name:
            raise ValueError(f"--set wants section.field=value, got {item!r}")
        layer.setdefault(section, {})[name] = yaml.safe_load(raw) if raw.strip() else ""
    return layer


def layer_from_names(config_type: type, values: Mapping[str, Any]) -> Layer:
    """A layer from ``{"section.field" or flag dest ("augment_copies") or flag ("--augment-copies"): value}``."""
    by_flag: dict[str, tuple[str, str]] = {}
    for section, settings_type in sections(config_type).items():
        for field in settings_fields(settings_type):
            by_flag[flag_of(field).lstrip("-").replace("-", "_")] = (section, field.name)
    layer: Layer = {}
    for key, value in values.items():
        if "." in key:
            section, name = key.split(".", 1)
        elif key.lstrip("-").replace("-", "_") in by_flag:
            section, name = by_flag[key.lstrip("-").replace("-", "_")]
        else:
            raise ValueError(f"unknown setting {key!r}")
        layer.setdefault(section, {})[name] = value
    return layer


# ----------------------------------------------------------------------------- building


def merge(*layers: Layer) -> Layer:
    """Later layers win, field by field."""
    out: Layer = {}
    for layer in layers:
        for section, values in layer.items():
            out.setdefault(section, {}).update(values)
    return out


def build_config(config_type: type, *layers: Layer) -> Any:
    """The config: each section's defaults, then the layers in order (later wins).

    Raises ValueError (one line) on an unknown section or field, a value of the wrong type,
    or a section whose ``__post_init__`` rejects its values.
    """
    known = sections(config_type)
    merged = merge(*layers)
    built = {}
    for section, values in merged.items():
        if section not in known:
            raise ValueError(f"unknown settings section {section!r} (one of {', '.join(known)})")
        names = {f.name for f in settings_fields(known[section])}
        for name in values:
            if name not in names:
                raise ValueError(f"unknown setting {section}.{name} (known: {', '.join(sorted(names))})")
    for section, settings_type in known.items():
        values = merged.get(section, {})
        kwargs = {name: coerce(settings_type, name, value) for name, value in values.items()}
        built[section] = settings_type(**kwargs)
    return config_type(**built)


def to_dict(config: Any, *, only_output_shaping: bool = False) -> dict[str, dict[str, Any]]:
    """``{section: {field: value}}`` of a config (tuples as lists: JSON- and YAML-ready)."""
    out: dict[str, dict[str, Any]] = {}
    for section in sections(type(config)):
        settings = getattr(config, section)
        out[section] = {
            f.name: (list(v) if isinstance(v := getattr(settings, f.name), tuple) else v)
            for f in settings_fields(type(settings))
            if f.metadata["shapes_output"] or not only_output_shaping
        }
    return out
