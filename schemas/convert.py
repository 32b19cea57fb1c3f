"""Plain values and dataclasses: the one converter between them.

The records (``schemas.records``), the build settings (``schemas.settings``) and the trainer's
configuration (``model.config``) all cross JSON, YAML or a Beam shuffle as plain dicts, lists
and scalars, and come back through these functions:

- :func:`to_plain` — what ``dataclasses.asdict`` returns (the same dict), without deep-copying
  every string and number;
- :func:`from_dict` — a dataclass from such a dict: nested dataclasses (also as the elements of
  a tuple) found from the type hints, lists read back as tuples; optionally strict about unknown
  keys and coercing each value to its field's type (:func:`coerce_value`);
- :func:`scalar` — one value from YAML or the command line as a ``bool``, ``int``, ``float`` or
  ``str``, with a one-line ``ValueError`` naming where it came from.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import types
import typing
from collections.abc import Mapping
from typing import Any

_ATOMS = frozenset({str, int, float, bool, type(None)})


@functools.cache
def _field_names(kind: type) -> tuple[str, ...] | None:
    """The field names of a dataclass type; None for any other type."""
    if dataclasses.is_dataclass(kind):
        return tuple(f.name for f in dataclasses.fields(kind))
    return None


def to_plain(value: Any) -> Any:
    """``dataclasses.asdict(value)`` for a dataclass (nested dataclasses, lists, tuples, namedtuples
    and dicts rebuilt; anything else deep-copied), with the immutable atoms passed through."""
    kind = type(value)
    if kind in _ATOMS:
        return value
    names = _field_names(kind)
    if names is not None:
        return {name: to_plain(getattr(value, name)) for name in names}
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return kind(*[to_plain(v) for v in value])
    if isinstance(value, (list, tuple)):
        return kind(to_plain(v) for v in value)
    if isinstance(value, dict):
        return kind((to_plain(k), to_plain(v)) for k, v in value.items())
    return copy.deepcopy(value)


@functools.cache
def field_types(cls: type) -> dict[str, Any]:
    """``{field name: type hint}`` of a dataclass, with ``Annotated`` extras stripped."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def optional_type(hint: Any) -> tuple[Any, bool]:
    """(the type inside ``X | None``, whether ``None`` is allowed) of a hint."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0], len(args) < len(typing.get_args(hint))
    return hint, False


def from_dict(cls: type, data: Mapping[str, Any], *, strict: bool = False, coerce: bool = False) -> Any:
    """``cls(**data)`` with nested dataclasses built from their dicts and lists read back as tuples.

    ``strict``: a key that is not a field raises ``KeyError`` (otherwise it is skipped).
    ``coerce``: each value is converted to its field's type by :func:`coerce_value`, which raises
    ``ValueError`` naming ``Class.field``; otherwise values other than lists are kept as they are.
    """
    readers = _readers(cls, strict, coerce)
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        read = readers.get(name, _UNKNOWN)
        if read is _UNKNOWN:
            if strict:
                raise KeyError(f"unknown key {name!r} for {cls.__name__}")
            continue
        kwargs[name] = read(value) if read is not None else (tuple(value) if isinstance(value, list) else value)
    return cls(**kwargs)


def coerce_value(hint: Any, value: Any, where: str) -> Any:
    """``value`` (from YAML, JSON or the command line) as type ``hint``: ``None`` kept where the hint
    allows it, a list or tuple (or one value) as a tuple of the element type, scalars by
    :func:`scalar`, a nested dataclass by :func:`from_dict` (strict); other types as given."""
    return _value(hint, value, where, True, True)


_UNKNOWN = object()


@functools.cache
def _readers(cls: type, strict: bool, coerce: bool) -> dict[str, Any]:
    """Per field of ``cls``: the function that reads its plain value, or None where a list becoming
    a tuple is all there is to do (no coercion, no nested dataclass)."""
    readers: dict[str, Any] = {}
    for name, hint in field_types(cls).items():
        kind, _ = optional_type(hint)
        element = _element_type(kind)
        if coerce or dataclasses.is_dataclass(kind) or (element is not None and dataclasses.is_dataclass(element)):
            readers[name] = functools.partial(
                _value, hint, where=f"{cls.__name__}.{name}", strict=strict, coerce=coerce
            )
        else:
            readers[name] = None
    return readers


def _value(hint: Any, value: Any, where: str, strict: bool, coerce: bool) -> Any:
    kind, optional = optional_type(hint)
    if value is None and (optional or not coerce):
        return None
    if dataclasses.is_dataclass(kind):
        return value if isinstance(value, kind) else from_dict(kind, value or {}, strict=strict, coerce=coerce)
    element = _element_type(kind)
    if coerce and element is not None and not isinstance(value, (list, tuple)):
        value = [value]  # one value where a tuple is wanted: a tuple of one
    if isinstance(value, (list, tuple)):
        if element is not None and (coerce or dataclasses.is_dataclass(element)):
            return tuple(_value(element, v, where, strict, coerce) for v in value)
        return tuple(value) if isinstance(value, list) else value
    if coerce:
        return scalar(kind, value, where)
    return value


def _element_type(kind: Any) -> Any:
    """The element type of ``tuple[X, ...]`` or ``tuple[X, X]``; None for any other type."""
    if typing.get_origin(kind) is not tuple:
        return None
    args = [a for a in typing.get_args(kind) if a is not Ellipsis]
    return args[0] if args and all(a == args[0] for a in args) else None


def scalar(kind: Any, value: Any, where: str) -> Any:
    """``value`` as a ``bool`` (also from ``true``/``false``/``yes``/``no``/``1``/``0``), ``int``
    (a whole number, also from text such as ``1e3``), ``float`` or ``str`` (``None``: ``""``); any other
    type as given."""
    if kind is bool:
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.strip().lower() in ("true", "yes", "1")
        if not isinstance(value, bool):
            raise ValueError(f"{where}: expected true/false, got {value!r}")
        return value
    if kind in (int, float):
        if isinstance(value, bool):
            raise ValueError(f"{where}: expected a number, got {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: expected a number, got {value!r}") from None
        if kind is int:
            if not number.is_integer():
                raise ValueError(f"{where}: expected an integer, got {value!r}")
            return int(number)
        return number
    if kind is str:
        return "" if value is None else str(value)  # YAML's empty value empties a text field, never "None"
    return value
