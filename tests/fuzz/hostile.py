"""The hostile corpus: a card number in every encoding, separator, digit class and grouping found to
get past a guard, and bodies built to be large or deeply nested. Plain Python (no PayBridge), so
that the process test can use it from outside the product.
"""

from __future__ import annotations

import json
import random
import unicodedata
from collections.abc import Callable, Iterator
from urllib.parse import unquote

from hypothesis import strategies as st

SEPARATORS = [
    " ", "  ", "\t", "\n", "\r\n", ".", "/", "_", "-", "\\", "\u00a0", "\u2009", "\u202f",
    "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u3000", "\u2013", "\u2014", "\u2212",
    "\u00b7", "\u2022", "\uff0e", "\uff0f", "\uff0d", "\u00ad",
]  # fmt: skip
DIGIT_SETS = {
    "ascii": "0123456789",
    "full-width": "０１２３４５６７８９",
    "arabic-indic": "٠١٢٣٤٥٦٧٨٩",
    "extended arabic-indic": "۰۱۲۳۴۵۶۷۸۹",
    "devanagari": "०१२३४५६७८९",
    "bengali": "০১২৩৪৫৬৭৮৯",
    "thai": "๐๑๒๓๔๕๖๗๘๙",
    "mathematical bold": "𝟎𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖𝟗",
    "mathematical monospace": "𝟶𝟷𝟸𝟹𝟺𝟻𝟼𝟽𝟾𝟿",
    "superscript": "⁰¹²³⁴⁵⁶⁷⁸⁹",
}
GROUPINGS = {"none": (19,), "4s": (4,), "8+8": (8,), "5s": (5,), "1s": (1,), "4-6-5": (4, 6, 5)}
ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le",
             "utf-32-be"]  # fmt: skip
PREFIXES = ["", "card", "PAN", "inv", "x"]


def luhn_complete(body: str) -> str:
    for check in "0123456789":
        total = 0
        for index, char in enumerate(reversed(body + check)):
            value = int(char) * (2 if index % 2 else 1)
            total += value - 9 if value > 9 else value
        if total % 10 == 0:
            return body + check
    raise AssertionError("unreachable")


def random_pans(count: int, seed: int) -> list[str]:
    """Luhn-valid numbers no log or file holds by chance (not the well-known test cards)."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        prefix = rng.choice(["4", "51", "52", "37", "6011"])
        length = 15 if prefix == "37" else 16
        rest = "".join(rng.choice("0123456789") for _ in range(length - 1 - len(prefix)))
        out.append(luhn_complete(prefix + rest))
    return out


def group(pan: str, sizes: tuple[int, ...]) -> list[str]:
    if len(sizes) > 1:
        out, at = [], 0
        for size in sizes:
            out.append(pan[at : at + size])
            at += size
        return [g for g in out if g]
    size = sizes[0]
    return [pan[i : i + size] for i in range(0, len(pan), size)]


def write(pan: str, digits: str, sep: str, sizes: tuple[int, ...], prefix: str = "") -> str:
    """``pan`` in another digit set, grouped, with ``sep`` between groups and letters in front."""
    shown = pan.translate(str.maketrans("0123456789", digits))
    return prefix + sep.join(group(shown, sizes))


def escaped(text: str) -> str:
    """``text`` as JSON string content made only of \\uXXXX escapes (surrogate pairs included)."""
    units = text.encode("utf-16-be")
    return "".join(f"\\u{units[i]:02x}{units[i + 1]:02x}" for i in range(0, len(units), 2))


def body_in(value: str, encoding: str, escape: bool) -> bytes:
    """``{"company": "usmf", "invoice_number": value}`` in ``encoding``, maybe all escapes."""
    if escape:
        text = f'{{"company": "usmf", "invoice_number": "{escaped(value)}"}}'
    else:
        text = json.dumps({"company": "usmf", "invoice_number": value}, ensure_ascii=False)
    return text.encode(encoding)


def amex(pan: str) -> tuple[int, ...]:
    return (4, 6, 5) if len(pan) == 15 else (4,)


@st.composite
def written_pans(draw: st.DrawFn, pans: st.SearchStrategy[str]) -> tuple[str, str]:
    """(pan, how it is written) in a random digit set, separator, grouping and prefix."""
    pan = draw(pans)
    digits = draw(st.sampled_from(sorted(DIGIT_SETS.values())))
    sizes = draw(st.sampled_from([*GROUPINGS.values(), amex(pan)]))
    sep = draw(st.sampled_from(SEPARATORS)) if sizes != (19,) else ""
    prefix = draw(st.sampled_from(PREFIXES))
    return pan, write(
        pan, digits, sep, sizes if len(pan) == 15 or len(sizes) == 1 else (4,), prefix
    )


def forms(pan: str) -> Iterator[str]:
    """A deterministic sample of ways to write ``pan`` (for the process test)."""
    for index, sep in enumerate(SEPARATORS):
        digits = list(DIGIT_SETS.values())[index % len(DIGIT_SETS)]
        sizes = list(GROUPINGS.values())[index % len(GROUPINGS)]
        if sizes == (4, 6, 5) and len(pan) != 15:
            sizes = (4,)
        yield write(pan, digits, "" if sizes == (19,) else sep, sizes, PREFIXES[index % 5])


def nested(depth: int) -> bytes:
    return b"[" * depth + b"1" + b"]" * (depth // 2)


def large(kind: str, size: int) -> bytes:
    units: dict[str, Callable[[], str]] = {
        "spaced ones": lambda: "1 ",
        "uuids": lambda: "3c170d10-0793-4145-9419-1b5f7f6f3e08 ",
        "dotted": lambda: "4111.1111.1111.1112 ",
        "full-width": lambda: "４１１１\u3000",
    }
    unit = units[kind]()
    return (unit * (size // len(unit.encode()) + 1)).encode()[:size]


def digits_seen(text: str) -> str:
    """Every digit a reader could piece together from ``text``: %-decoded, NFKC, any script."""
    folded = unicodedata.normalize("NFKC", unquote(text))
    return "".join(str(unicodedata.decimal(ch)) for ch in folded if ch.isdecimal())
