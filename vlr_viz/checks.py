"""Typed checks of setting values: type, range, set of choices and element types, in one place.

A check is called as ``check(value, name)`` and returns the value (ints widened to float where a number is
expected, lists and mappings rebuilt from their checked elements) or raises `ConfigError` naming ``name``
(``lr``, ``seeds[1]``, ``weights['kd_loss']``) and the value it got::

    >>> Integer(min=0)(-3, "epochs_stage1")
    Traceback (most recent call last):
    ...
    vlr_viz.errors.ConfigError: epochs_stage1 must be an integer >= 0; got int -3

`TrainConfig` (config files and flags) and the notebook parameters (`vlr_viz.notebook.rules`) share these
checks, so a value is refused the same way whichever door it comes through, before any work starts.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Iterable

from .errors import ConfigError


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def describe_value(value: Any) -> str:
    """``"str 'fast'"``: the type and a short repr, for messages."""
    return f"{type(value).__name__} {_short_repr(value)}"


class Check:
    """A rule for one value; subclasses set ``description`` (``"an integer >= 0"``) and implement `check`."""

    description = "a value"

    def __call__(self, value: Any, name: str) -> Any:
        return self.check(value, name)

    def check(self, value: Any, name: str) -> Any:
        raise NotImplementedError

    def fail(self, value: Any, name: str):
        raise ConfigError(f"{name} must be {self.description}; got {describe_value(value)}")


def _is_int(value) -> bool:
    import numbers

    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _bound_text(low, high, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f" in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f" {'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f" {'<' if high_open else '<='} {high:g}"
    return ""


class Integer(Check):
    """An ``int`` (not a ``bool``) with optional bounds ``min <= value <= max``."""

    def __init__(self, min: int | None = None, max: int | None = None):
        self.min, self.max = min, max
        self.description = "an integer" + _bound_text(min, max, False, False)

    def check(self, value, name):
        if not _is_int(value) or (self.min is not None and value < self.min) or (
                self.max is not None and value > self.max):
            self.fail(value, name)
        return int(value)


class Number(Check):
    """A finite real number (an ``int`` is widened to ``float``; a ``bool`` is refused) with optional bounds,
    closed unless ``min_open`` / ``max_open``."""

    def __init__(self, min: float | None = None, max: float | None = None, *, min_open: bool = False,
                 max_open: bool = False):
        self.min, self.max, self.min_open, self.max_open = min, max, min_open, max_open
        if min == 0 and max is None:
            self.description = "a positive number" if min_open else "a non-negative number"
        else:
            self.description = "a number" + _bound_text(min, max, min_open, max_open)

    def check(self, value, name):
        import numbers

        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            self.fail(value, name)
        value = float(value)
        if self.min is not None and (value < self.min or (self.min_open and value == self.min)):
            self.fail(value, name)
        if self.max is not None and (value > self.max or (self.max_open and value == self.max)):
            self.fail(value, name)
        return value


class Flag(Check):
    """``True`` or ``False`` only (the strings ``"no"`` / ``"false"`` and the numbers 0 / 1 are refused)."""

    description = "true or false"

    def check(self, value, name):
        if not isinstance(value, bool):
            self.fail(value, name)
        return value


class Text(Check):
    """Any ``str`` (``non_empty``: at least one non-blank character)."""

    def __init__(self, non_empty: bool = False):
        self.non_empty = non_empty
        self.description = "a non-empty string" if non_empty else "a string"

    def check(self, value, name):
        if not isinstance(value, str) or (self.non_empty and not value.strip()):
            self.fail(value, name)
        return value


class Choice(Check):
    """One of a set of values (``label`` names what they are in messages: ``"loss term"``); ``options`` may be a
    function giving them, asked at each check (the registered methods, which plug-ins extend)."""

    def __init__(self, options: Iterable | Callable[[], Iterable], label: str | None = None):
        self._options = options if callable(options) else tuple(options)
        self.label = label

    @property
    def options(self) -> tuple:
        return tuple(self._options()) if callable(self._options) else self._options

    @property
    def description(self) -> str:
        return "one of " + ", ".join(map(repr, self.options))

    def check(self, value, name):
        options = self.options
        if not any(_same_kind(value, o) and value == o for o in options):
            what = self.label or name
            raise ConfigError(f"unknown {what} {value!r}{'' if self.label is None else f' in {name}'}; "
                              f"choose one of {', '.join(map(repr, options))}")
        return value


def _same_kind(value, option) -> bool:
    """``value`` is of ``option``'s type (a ``bool`` never stands for an ``int``)."""
    return isinstance(value, type(option)) and isinstance(value, bool) == isinstance(option, bool)


class Optional(Check):
    """``None`` or a value passing ``check``."""

    def __init__(self, check: Check):
        self.inner = check
        self.description = f"None or {check.description}"

    def check(self, value, name):
        return None if value is None else self.inner(value, name)


class ListOf(Check):
    """A list (or tuple) whose every element passes ``element``; ``min_len``, ``unique`` optional. Returns the
    same container type with the checked elements. Strings are refused even though they are sequences."""

    def __init__(self, element: Check, min_len: int = 0, unique: bool = False, kinds=(list, tuple)):
        self.element, self.min_len, self.unique, self.kinds = element, min_len, unique, tuple(kinds)
        parts = ["a non-empty list" if min_len == 1 else "a list" + (f" of at least {min_len}" if min_len > 1 else "")]
        parts.append(f" of {element.description}")
        if unique:
            parts.append(" without repeats")
        self.description = "".join(parts)

    def check(self, value, name):
        if not isinstance(value, self.kinds) or len(value) < self.min_len:
            self.fail(value, name)
        items = [self.element(v, f"{name}[{i}]") for i, v in enumerate(value)]
        if self.unique:
            seen = set()
            for i, v in enumerate(items):
                key = repr(v)
                if key in seen:
                    raise ConfigError(f"{name}[{i}] repeats {v!r}; {name} must not hold a value twice")
                seen.add(key)
        return type(value)(items) if isinstance(value, (list, tuple)) else items


class MappingOf(Check):
    """A dict whose keys pass ``keys`` and whose values pass ``values`` (``min_len`` entries at least)."""

    def __init__(self, keys: Check, values: Check, min_len: int = 0):
        self.keys, self.values, self.min_len = keys, values, min_len
        self.description = (f"a{' non-empty' if min_len else ''} mapping of {keys.description} to "
                            f"{values.description}")

    def check(self, value, name):
        if not isinstance(value, dict) or len(value) < self.min_len:
            self.fail(value, name)
        return {self.keys(k, name): self.values(v, f"{name}[{k!r}]") for k, v in value.items()}


class Rule(Check):
    """A check made of a library function ``function(value)`` that raises ``ValueError`` / ``TypeError`` for a
    bad value (what it returns is ignored; the value is kept as given); its message is re-raised as
    `ConfigError` naming ``name`` and the value (``description`` says what is accepted, for documentation).
    A parameter is thus checked by the very function that will use it (e.g. the degradation preset resolver)."""

    def __init__(self, function: Callable[[Any], Any], description: str):
        self.function, self.description = function, description

    def check(self, value, name):
        try:
            self.function(value)
        except (ValueError, TypeError) as e:
            raise ConfigError(f"{name}={_short_repr(value)}: {e}") from None
        return value


def check_values(checks: dict[str, Check], values: dict[str, Any], where: str = "",
                 allow_unknown: bool = False) -> dict[str, Any]:
    """``{name: checks[name](value)}`` for every entry of ``values``; unknown names raise `ConfigError` listing
    the known ones unless ``allow_unknown`` (they are then passed through). ``where`` prefixes every message
    (``"--config run.json"``)."""
    prefix = f"{where}: " if where else ""
    if not isinstance(values, dict):
        raise ConfigError(f"{prefix}expected a mapping of setting names to values; got {describe_value(values)}")
    unknown = sorted(set(values) - set(checks), key=str)
    if unknown and not allow_unknown:
        raise ConfigError(f"{prefix}unknown setting(s) {', '.join(map(repr, unknown))}; "
                          f"known: {', '.join(sorted(checks))}")
    out = {}
    for name, value in values.items():
        if name not in checks:
            out[name] = value
            continue
        try:
            out[name] = checks[name](value, name)
        except ConfigError as e:
            raise ConfigError(f"{prefix}{e}") from None
    return out
