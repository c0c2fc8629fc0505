"""Columns between the column stores and polars: machine arrays in and out, minor units, codes.

The stores keep their columns as ``array`` (what the report and the journal read row by row);
polars reads those buffers without a copy, and results come back into arrays by one memcpy.
Amounts enter as ``Decimal`` columns and become exact integers of the currency's minor unit
(half-even below it, as ``columns.to_minor``); a float column is refused.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

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
    texts = values.cast(pl.String).fill_null("").rechunk().to_arrow()
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    encoded = pc.dictionary_encode(texts)  # one hash of each text; polars' unique+replace: two
    codes = pa.array([code(t) for t in encoded.dictionary.to_pylist()], pa.int32())
    out = pl.from_arrow(codes.take(encoded.indices))
    assert isinstance(out, pl.Series)
    return out.alias(values.name)


def minor_units(amounts: pl.Series, currencies: pl.Series) -> pl.Series:
    """Exact integers of each row's currency minor unit; half-even below it; never a float."""
    dtype = amounts.dtype
    if dtype.is_float():
        raise TypeError(f"column {amounts.name!r}: amounts are Decimal, never float")
    if not (dtype.is_integer() or isinstance(dtype, pl.Decimal) or dtype == pl.Null):
        raise TypeError(f"column {amounts.name!r}: amounts are Decimal, not {dtype}")
    exponents = {c: currency_exponent(c) for c in currencies.unique().to_list()}
    if isinstance(dtype, pl.Decimal) and set(exponents.values()) == {dtype.scale}:
        # The common page: as many places as the currency has; the unscaled integer is it.
        return amounts.fill_null(0).to_physical().cast(pl.Int64).alias(amounts.name)
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
    """A column of texts kept as Arrow ``large_string`` chunks: invoice numbers, nearly one per
    row, would cost more interned in a dict than their bytes, and a polars text column spends
    16 bytes a row on views besides. Polars gets a chunk's rows or some rows by position."""

    def __init__(self) -> None:
        self._chunks: list[pa.Array] = []
        self._pending: list[str] = []
        self._whole: pa.ChunkedArray | None = None

    def __len__(self) -> int:
        return sum(len(c) for c in self._chunks) + len(self._pending)

    def append(self, text: str) -> None:
        self._pending.append(text)
        self._whole = None

    def extend(self, values: pl.Series | Iterable[str]) -> None:
        self._flush()
        if isinstance(values, pl.Series):
            chunk = values.cast(pl.String).fill_null("").to_arrow()
        else:
            chunk = pa.array(list(values), pa.large_string())
        self._chunks.append(chunk.cast(pa.large_string()))
        self._whole = None

    def __getitem__(self, row: int) -> str:
        return str(self.arrow()[row].as_py())

    def __iter__(self) -> Iterator[str]:
        return (str(text) for text in self.arrow().to_pylist())

    def arrow(self) -> pa.ChunkedArray:
        if self._whole is None:
            self._flush()
            self._whole = pa.chunked_array(self._chunks, pa.large_string())
        return self._whole

    def rows(self, start: int, size: int) -> pl.Series:
        return _texts(self.arrow().slice(start, size))

    def take(self, rows: pl.Series) -> pl.Series:
        """The texts at ``rows`` (positions; a null position gives an empty text).

        Arrow's ``take`` on a chunked array first concatenates every chunk: ten million texts
        copied for each call. When the column is much longer than ``rows``, the texts are
        taken chunk by chunk instead (a sort of ``rows`` by chunk, then back in order)."""
        if not len(self):
            return pl.Series([""] * len(rows), dtype=pl.String)
        whole = self.arrow()
        chunks = whole.chunks
        wanted = rows.fill_null(0).cast(pl.Int64)
        if len(chunks) == 1 or len(whole) <= 4 * len(rows):
            return _texts(whole.take(wanted.to_arrow()))
        starts = pl.Series(_starts(chunks), dtype=pl.Int64)
        chunk = (starts.search_sorted(wanted, side="right") - 1).cast(pl.Int64)
        frame = pl.DataFrame({"at": wanted, "chunk": chunk}).with_row_index("order")
        frame = frame.sort("chunk", maintain_order=True)
        parts: list[pa.Array] = []
        for (number,), part in frame.group_by("chunk", maintain_order=True):
            assert isinstance(number, int)
            local = (part["at"] - starts[number]).to_arrow()
            parts.append(chunks[number].take(local))
        taken = pa.concat_arrays(parts) if parts else pa.array([], pa.large_string())
        back = frame["order"].arg_sort().cast(pl.Int64).to_arrow()
        return _texts(pa.chunked_array([taken.take(back)], pa.large_string()))

    def marked(self) -> pl.Series:
        """True where the text is not empty."""
        flags = pl.from_arrow(pc.not_equal(self.arrow(), ""))
        assert isinstance(flags, pl.Series)
        return flags.fill_null(False)

    def _flush(self) -> None:
        if self._pending:
            self._chunks.append(pa.array(self._pending, pa.large_string()))
            self._pending = []


def _starts(chunks: Sequence[pa.Array]) -> list[int]:
    """Where each chunk begins, as a row number of the whole column."""
    starts, at = [], 0
    for chunk in chunks:
        starts.append(at)
        at += len(chunk)
    return starts


def _texts(values: pa.ChunkedArray) -> pl.Series:
    if values.num_chunks == 0:
        return pl.Series([], dtype=pl.String)
    out = pl.from_arrow(values)
    assert isinstance(out, pl.Series)
    return out.cast(pl.String)


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
