"""Columns between the column stores and polars: machine arrays in and out, minor units, codes.

The stores keep their columns as ``array`` (what the report and the journal read row by row);
polars reads those buffers without a copy, and results come back into arrays by one memcpy.
Amounts enter as ``Decimal`` columns and become exact integers of the currency's minor unit
(half-even below it, as ``columns.to_minor``); a float column is refused.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import polars as pl
import pyarrow as pa

from paybridge.model import currency_exponent

_POLARS = {"q": pl.Int64, "i": pl.Int32, "b": pl.Int8, "B": pl.UInt8}
_ARROW = {"q": pa.int64(), "i": pa.int32(), "b": pa.int8(), "B": pa.uint8()}


def series(column: array[int] | bytearray, name: str = "") -> pl.Series:
    """A polars view of ``column`` (no copy): the column must not grow while the view lives."""
    code = column.typecode if isinstance(column, array) else "B"
    if len(column) == 0:
        return pl.Series(name, [], dtype=_POLARS[code])
    values = pa.Array.from_buffers(_ARROW[code], len(column), [None, pa.py_buffer(column)])
    view = pl.from_arrow(values)
    assert isinstance(view, pl.Series)
    return view.alias(name)


def append(column: array[int] | bytearray, values: pl.Series) -> None:
    """Append ``values`` (no nulls) to ``column`` by one copy of their bytes."""
    code = column.typecode if isinstance(column, array) else "B"
    chunk = values.cast(_POLARS[code]).rechunk().to_arrow()
    if chunk.null_count:
        raise ValueError(f"column {values.name!r} has empty values")
    size = 1 if isinstance(column, bytearray) else column.itemsize
    data = memoryview(chunk.buffers()[1])[chunk.offset * size : (chunk.offset + len(chunk)) * size]
    if isinstance(column, array):
        column.frombytes(data)
    else:
        column[len(column) :] = data


def to_array(values: pl.Series, typecode: str) -> array[int]:
    out: array[int] = array(typecode)
    append(out, values)
    return out


def coded(values: pl.Series, code: Callable[[str], int]) -> pl.Series:
    """Intern a text column: each distinct text once through ``code``, then a vectorised lookup."""
    texts = values.cast(pl.String).fill_null("")
    distinct = texts.unique().to_list()
    return texts.replace_strict(distinct, [code(t) for t in distinct], return_dtype=pl.Int32)


def minor_units(amounts: pl.Series, currencies: pl.Series) -> pl.Series:
    """Exact integers of each row's currency minor unit; half-even below it; never a float."""
    dtype = amounts.dtype
    if dtype.is_float():
        raise TypeError(f"column {amounts.name!r}: amounts are Decimal, never float")
    if not (dtype.is_integer() or isinstance(dtype, pl.Decimal) or dtype == pl.Null):
        raise TypeError(f"column {amounts.name!r}: amounts are Decimal, not {dtype}")
    exponents = {c: currency_exponent(c) for c in currencies.unique().to_list()}
    frame = pl.DataFrame(
        {
            "amount": amounts.fill_null(0),
            "exp": currencies.replace_strict(exponents, return_dtype=pl.Int8),
        }
    )
    scaled: pl.Expr = pl.lit(None, pl.Int64)
    for exp in sorted(set(exponents.values())):
        shifted = (pl.col("amount") * 10**exp).round(0, mode="half_to_even").cast(pl.Int64)
        scaled = pl.when(pl.col("exp") == exp).then(shifted).otherwise(scaled)
    return frame.select(scaled.alias(amounts.name)).to_series()


def whole_numbers(values: pl.Series) -> pl.Series:
    """Line numbers: the integer where a value is whole, else -1."""
    if values.dtype.is_integer():
        return values.fill_null(-1).cast(pl.Int64)
    whole = values.cast(pl.Int64, strict=False)
    same = whole.cast(values.dtype, strict=False) == values
    return pl.select(pl.when(same).then(whole).otherwise(-1).alias(values.name)).to_series()


class Texts:
    """A column of texts kept as Arrow chunks (invoice numbers: nearly one per row, so interning
    them in a dict would cost more than the texts themselves)."""

    def __init__(self) -> None:
        self._chunks: list[pl.Series] = []
        self._pending: list[str] = []
        self._whole: pl.Series | None = None

    def __len__(self) -> int:
        return sum(len(c) for c in self._chunks) + len(self._pending)

    def append(self, text: str) -> None:
        self._pending.append(text)
        self._whole = None

    def extend(self, values: pl.Series | Iterable[str]) -> None:
        self._flush()
        chunk = values if isinstance(values, pl.Series) else pl.Series(list(values))
        self._chunks.append(chunk.cast(pl.String).fill_null("").alias(""))
        self._whole = None

    def __getitem__(self, row: int) -> str:
        value = self.series()[row]
        assert isinstance(value, str)
        return value

    def __iter__(self) -> Any:
        return iter(self.series())

    def series(self) -> pl.Series:
        if self._whole is None:
            self._flush()
            self._whole = (
                pl.concat(self._chunks, rechunk=False)
                if self._chunks
                else pl.Series("", [], dtype=pl.String)
            )
            self._chunks = [self._whole]
        return self._whole

    def _flush(self) -> None:
        if self._pending:
            self._chunks.append(pl.Series("", self._pending, dtype=pl.String))
            self._pending = []


def page_frame(
    page: pl.DataFrame | pa.RecordBatch | pa.Table, needed: Sequence[str]
) -> pl.DataFrame:
    """A page as a polars frame; a missing column is named."""
    frame = page if isinstance(page, pl.DataFrame) else pl.from_arrow(page)
    assert isinstance(frame, pl.DataFrame)
    missing = [name for name in needed if name not in frame.columns]
    if missing:
        raise ValueError(f"the page lacks the columns {', '.join(missing)}")
    return frame
