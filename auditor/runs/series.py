"""A metric's history as two typed columns instead of a list of (step, value) tuples.

A tuple with an int and a float costs about 110 bytes a point: a 3M-line MLflow metric file held that way
is ~350 MB. Two `array` columns hold the same points in 16 bytes each. Every reader fills a Series and
every rule reads it as it read the list: indexing, slicing, iteration and reversal give (step, value).
"""

from __future__ import annotations

import hashlib
from array import array
from typing import Any, Iterable, Iterator

import numpy

from auditor.runs.readers.common import to_float, to_step


def _as_step(step: float) -> int | float:
    """A float column's step read back as people write it: 29, not 29.0 (the readers' to_step rule)."""
    return int(step) if step.is_integer() else step


class Series:
    """(step, value) points. Steps stay ints (array 'q') while every step is integral, and become floats
    (array 'd') once one is not; an integral step still reads back as an int. Values are floats.
    Steps must be finite numbers (the readers pass them through to_step), values numbers (to_float)."""

    __slots__ = ("steps", "values")

    def __init__(self, points: Iterable[tuple[Any, Any]] = ()):
        self.steps = array("q")
        self.values = array("d")
        self.extend(points)

    @classmethod
    def _of(cls, steps: array, values: array) -> Series:
        series = cls.__new__(cls)
        series.steps, series.values = steps, values
        return series

    # -- filling ----------------------------------------------------------------------------------------

    def append(self, step: int | float, value: float) -> None:
        self.values.append(value)  # first: a value that is not a number changes nothing
        if self.steps.typecode == "q":
            if type(step) is float and step.is_integer():
                step = int(step)
            if type(step) is int and -(1 << 63) <= step < (1 << 63):
                self.steps.append(step)
                return
            self.steps = array("d", self.steps)  # a fractional (or beyond int64) step: float steps from here on
        try:
            self.steps.append(step)
        except TypeError:
            self.values.pop()  # the columns keep one length
            raise

    def extend(self, points: Iterable[tuple[Any, Any]]) -> None:
        if isinstance(points, Series):
            if points.steps.typecode != self.steps.typecode:
                self.steps = array("d", self.steps)
                points = Series._of(array("d", points.steps), points.values)
            self.steps.extend(points.steps)
            self.values.extend(points.values)
            return
        for step, value in points:
            self.append(step, value)

    def sorted_by_step(self) -> Series:
        """Itself when in step order (the usual case: nothing copied), else a stably sorted copy."""
        steps = numpy.frombuffer(self.steps, dtype=numpy.int64 if self.steps.typecode == "q" else numpy.float64)
        if len(steps) < 2 or bool(numpy.all(steps[1:] >= steps[:-1])):
            return self
        order = numpy.argsort(steps, kind="stable")
        values = numpy.frombuffer(self.values, dtype=numpy.float64)
        return Series._of(array(self.steps.typecode, steps[order].tobytes()), array("d", values[order].tobytes()))

    # -- reading as a list of (step, value) ----------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Series._of(self.steps[index], self.values[index])
        step = self.steps[index]
        return (step if self.steps.typecode == "q" else _as_step(step)), self.values[index]

    def __iter__(self) -> Iterator[tuple[int | float, float]]:
        steps = self.steps if self.steps.typecode == "q" else map(_as_step, self.steps)
        return zip(steps, self.values, strict=True)

    def __reversed__(self) -> Iterator[tuple[int | float, float]]:
        steps = reversed(self.steps) if self.steps.typecode == "q" else map(_as_step, reversed(self.steps))
        return zip(steps, reversed(self.values), strict=True)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Series):
            return self.steps == other.steps and self.values == other.values or list(self) == list(other)
        if isinstance(other, (list, tuple)):
            return list(self) == [tuple(point) for point in other]
        return NotImplemented

    __hash__ = None  # mutable, like the list it replaces

    def __repr__(self) -> str:
        shown = list(self[:6])
        return f"Series({shown!r}{' + %d more' % (len(self) - 6) if len(self) > 6 else ''})"

    # -- storing ---------------------------------------------------------------------------------------------

    def __reduce__(self):  # pickled into and out of discovery's worker processes
        return Series._of, (self.steps, self.values)

    def to_plain(self) -> tuple[str, bytes, bytes]:
        """Plain data for the discovery cache's marshal blob (which holds no custom objects)."""
        return self.steps.typecode, self.steps.tobytes(), self.values.tobytes()

    @classmethod
    def from_plain(cls, plain: tuple[str, bytes, bytes]) -> Series:
        typecode, steps, values = plain
        return cls._of(array(typecode, steps), array("d", values))

    def digest(self) -> str:
        """What the points are, in a few bytes: a changed history changes it (the nightly's "changed run")."""
        return hashlib.sha1(self.steps.typecode.encode() + self.steps.tobytes() + self.values.tobytes()).hexdigest()


def clean_series(points: Any) -> Series:
    """Points as a record holds them ([step, value] lists, strings, nulls) as a Series of the numeric ones,
    in their order; a Series (already clean: its readers converted each point) is returned as it is."""
    if isinstance(points, Series):
        return points
    out = Series()
    for point in points or []:
        if not isinstance(point, (list, tuple)) or len(point) < 2:
            continue
        step, value = to_step(point[0]), to_float(point[1])
        if step is not None and value is not None:
            out.append(step, value)
    return out


def series_for(metrics: dict[str, Series], name: str) -> Series:
    """metrics[name], created empty on first use (setdefault would build a Series for every point)."""
    series = metrics.get(name)
    if series is None:
        series = metrics[name] = Series()
    return series
