"""The one converter between plain values and dataclasses (schemas.convert)."""

from __future__ import annotations

import dataclasses
from collections import namedtuple
from dataclasses import dataclass, field

import pytest

from schemas.convert import coerce_value, from_dict, scalar, to_plain

Point = namedtuple("Point", "x y")


@dataclass(frozen=True)
class Inner:
    word: str
    start_s: float = 0.0


@dataclass(frozen=True)
class Outer:
    name: str
    count: int = 0
    ratio: float = 1.0
    on: bool = False
    inner: Inner = field(default_factory=lambda: Inner("x"))
    inners: tuple[Inner, ...] = ()
    pair: tuple[float, float] = (0.0, 1.0)
    maybe: Inner | None = None
    extra: dict = field(default_factory=dict)


def _outer() -> Outer:
    return Outer(
        "a",
        2,
        0.5,
        True,
        Inner("b", 1.5),
        (Inner("c"), Inner("d", 2.0)),
        (0.25, 0.75),
        None,
        {"list": [1, {"k": (2, 3)}], "point": Point(1, 2)},
    )


def test_to_plain_is_what_asdict_returns_with_new_containers():
    record = _outer()
    plain = to_plain(record)
    assert plain == dataclasses.asdict(record)
    assert type(plain["inners"]) is tuple and type(plain["extra"]["point"]) is Point
    assert plain["extra"] is not record.extra and plain["extra"]["list"] is not record.extra["list"]


def test_from_dict_rebuilds_nested_dataclasses_and_tuples():
    record = _outer()
    plain = to_plain(record)
    plain["inners"] = [dict(i) for i in plain["inners"]]  # as JSON gives them back
    plain["pair"] = list(plain["pair"])
    assert from_dict(Outer, plain) == record


def test_from_dict_skips_unknown_keys_unless_strict():
    assert from_dict(Outer, {"name": "a", "later_field": 1}) == Outer("a")
    with pytest.raises(KeyError, match="later_field"):
        from_dict(Outer, {"name": "a", "later_field": 1}, strict=True)
    with pytest.raises(KeyError, match="Inner"):
        from_dict(Outer, {"name": "a", "inner": {"word": "w", "typo": 1}}, strict=True)


def test_without_coerce_values_keep_their_type():
    built = from_dict(Outer, {"name": "a", "count": "3", "ratio": 2})
    assert built.count == "3" and type(built.ratio) is int


def test_coerce_gives_each_value_its_field_type():
    built = from_dict(
        Outer,
        {"name": 5, "count": "1e3", "ratio": "3e-4", "on": "false", "pair": ["1", 2], "inner": {"word": 1}},
        strict=True,
        coerce=True,
    )
    assert built.name == "5" and built.count == 1000 and built.ratio == 3e-4 and built.on is False
    assert built.pair == (1.0, 2.0) and built.inner == Inner("1")
    with pytest.raises(ValueError, match=r"Outer\.count: expected an integer"):
        from_dict(Outer, {"name": "a", "count": 1.5}, coerce=True)


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [(bool, "yes", True), (bool, "0", False), (int, "12", 12), (int, 3.0, 3), (float, "1e-3", 1e-3), (str, 7, "7"), (str, None, "")],
)
def test_scalar_reads_text_and_numbers(kind, value, expected):
    assert scalar(kind, value, "here") == expected and type(scalar(kind, value, "here")) is kind


@pytest.mark.parametrize(("kind", "value"), [(bool, "maybe"), (bool, 1), (int, True), (int, "x"), (float, None)])
def test_scalar_refuses_with_one_line_naming_where(kind, value):
    with pytest.raises(ValueError, match="^somewhere: expected"):
        scalar(kind, value, "somewhere")


def test_coerce_value_keeps_none_only_where_the_hint_allows_it():
    assert coerce_value(int | None, None, "w") is None
    with pytest.raises(ValueError, match="expected a number"):
        coerce_value(int, None, "w")


def test_coerce_value_reads_one_value_as_a_tuple_of_one():
    assert coerce_value(tuple[str, ...], "template", "w") == ("template",)
    assert coerce_value(tuple[float, ...], [1, "2"], "w") == (1.0, 2.0)


@dataclass(frozen=True)
class Empty:
    pass


def test_a_dataclass_without_fields_is_an_empty_dict():
    assert to_plain(Empty()) == dataclasses.asdict(Empty()) == {} and to_plain([Empty()]) == [{}]
