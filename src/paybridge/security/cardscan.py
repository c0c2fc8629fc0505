"""The card-number scanner: normalises text the way a reader would see it, then finds PANs in linear time.

A reader sees a card number in ``4111.1111.1111.1111``, ``４１１１ １１１１ …``, ``٤١١١…``,
``4111\u200b1111…``, ``41111111 11111111`` and ``card4111111111111111``, so the scanner does too:
every Unicode decimal digit (and every character whose NFKC form is one, such as superscripts and
mathematical digits) counts as its digit, and every separator (spaces of every width, tab,
newline, zero-width and other format characters, combining marks, dashes, ``.``, ``/``, ``_``,
``\\``) joins digit groups. Letters neither join nor hide digits. Commas, colons and ``+`` do not
join, so amounts, times and lists stay apart.

A card number is 13-19 digits that pass Luhn, written either in one group or in consecutive groups
the way cards are written: equal groups of 1, 4, 5 or 8 digits, the last one maybe shorter
(4-4-4-4, 4-4-4-4-3, 8+8, one digit at a time), or 4-6-5 and 4-6-4. A time followed by an amount, a date or
a phone number is several numbers, not one. A UUID's digits and the digits inside a hex word of 32
or more characters (a digest) are not card data.

Speed: the text becomes a one-byte-per-character skeleton (digit, separator or other) with
``str.translate``/``bytes.translate``, and ``bytes.find`` looks for 13 digits with nothing but
separators between them; text without such a run (nearly all text) is done after a few passes at
memory speed. Runs that have them are examined one by one, and their digit groups are paid for
from a ``ScanBudget``: a text that would cost more than the budget raises ``TooDense`` (refuse it:
it is not proven clean) instead of taking seconds.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

# Digit groups a text may make us examine (in runs of 13 or more digits) before it is refused.
MAX_GROUPS = 1024

# Separators in ASCII; their Unicode kin are found by category and NFKC below.
ASCII_SEPARATORS = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f._/-\\"
# Dots, bullets, slashes and minus signs that are punctuation or symbols, not dashes (Pd).
_EXTRA_SEPARATORS = "\u00b7\u2022\u2024\u2027\u2044\u2212\u2215\u2219\u30fb\uff65\u0085"
_SEPARATOR_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf", "Mn", "Me", "Pd"})

_DIGIT, _SEP, _OTHER = ord("d"), ord(" "), ord("x")
_THIRTEEN = b"d" * 13


class TooDense(ValueError):
    """The text holds more digit groups in long runs than the budget allows: refuse, do not pass."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} digit groups in runs of 13 or more digits")
        self.limit = limit


@dataclass
class ScanBudget:
    """What one request (or one log line) may cost the scanner, in digit groups examined."""

    limit: int = MAX_GROUPS
    spent: int = 0

    def spend(self, groups: int) -> None:
        self.spent += groups
        if self.spent > self.limit:
            raise TooDense(self.limit)


def _ascii_table() -> bytes:
    table = bytearray(b"x" * 256)
    for char in ASCII_SEPARATORS:
        table[ord(char)] = _SEP
    for digit in range(10):
        table[48 + digit] = 48 + digit
    # Letters are told apart only to find UUIDs and digests; then they are an "x" like the rest.
    for letter in b"GHIJKLMNOPQRSTUVWXYZghijklmnopqrstuvwxyz":
        table[letter] = ord("l")
    for letter in b"ABCDEFabcdef":
        table[letter] = ord("h")
    return bytes(table)


_ASCII_SKELETON = _ascii_table()
_UNLETTER = bytes.maketrans(b"hl", b"xx")
# The skeleton's digits become "d" (spaces are deleted separately): 13 "d" in a row is a run.
_FLAG = bytes.maketrans(b"0123456789hl", b"ddddddddddxx")
# Word characters (ASCII letters and digits) as "w", the rest as ".": where a word ends.
_WORD = bytes.maketrans(bytes(range(256)), b"." * 48 + b"w" * 10 + b"." * 46 + b"w" * 152)
# A UUID (any separator for its dashes) as a fixed needle: its digits are nobody's card number.
_HEXISH = bytes.maketrans(bytes(range(256)), b"." * 32 + b" " + b"." * 15 + b"u" * 10 + b"." * 46
                          + b"u" + b"." * 151)  # fmt: skip
_UUID_NEEDLE = b"uuuuuuuu uuuu uuuu uuuu uuuuuuuuuuuu"
_KEEP = bytes.maketrans(bytes(range(1, 256)), b"\xff" * 255)  # 0 stays 0: a UUID's byte
_DROP_UUID = bytes.maketrans(b"\x00", b"x")


def _mask_uuids(skel: bytes) -> bytes:
    """``skel`` with every UUID shape turned to "x": a fixed-needle replace and a bitwise AND."""
    shapes = skel.translate(_HEXISH)
    if _UUID_NEEDLE not in shapes:
        return skel
    keep = shapes.replace(_UUID_NEEDLE, b"\x00" * 36).translate(_KEEP)
    size = len(skel)
    masked = int.from_bytes(skel, "big") & int.from_bytes(keep, "big")
    return masked.to_bytes(size, "big").translate(_DROP_UUID)


def _unicode_class(char: str) -> str:
    """The skeleton character of a non-ASCII character: its digit, " " or "x"."""
    if char.isdecimal():
        return str(unicodedata.decimal(char))
    if unicodedata.category(char) in _SEPARATOR_CATEGORIES or char in _EXTRA_SEPARATORS:
        return " "
    folded = unicodedata.normalize("NFKC", char)
    if len(folded) == 1 and folded != char:
        if folded.isdecimal():
            return str(unicodedata.decimal(folded))
        if folded in ASCII_SEPARATORS or folded.isspace() or folded in _EXTRA_SEPARATORS:
            return " "
    return "x"


@functools.cache
def _unicode_skeleton() -> str:
    """A translate table (a str indexed by code point) for text that is not ASCII; built once."""
    table = bytearray(b"x" * 0x110000)
    table[:256] = _ASCII_SKELETON
    planes = (range(0x80, 0x20000), range(0xE0000, 0xE0200))
    for code in (c for plane in planes for c in plane):
        char = chr(code)
        if char.isascii():
            continue
        kind = _unicode_class(char)
        if kind != "x":
            table[code] = ord(kind)
    return table.decode("ascii")


def warm_up() -> None:
    """Build the Unicode table now (about 0.1 s once) rather than during the first request."""
    _unicode_skeleton()


def skeleton(text: str) -> bytes:
    """One byte per character of ``text``: its ASCII digit, ``b" "`` (separator), ``b"h"`` (an
    ASCII hex letter), ``b"l"`` (another ASCII letter) or ``b"x"`` (anything else)."""
    if text.isascii():
        return text.encode("ascii").translate(_ASCII_SKELETON)
    return text.translate(_unicode_skeleton()).encode("ascii")


def luhn_valid(digits: str) -> bool:
    """True when ``digits`` (only 0-9) passes the Luhn check."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


_GROUP = re.compile(rb"[0-9]+")
_WORD_REACH = 256  # how far a word is followed to tell a digest from "card4111..."


def _in_digest(skel: bytes, words: bytes, start: int, end: int) -> bool:
    """True when skel[start:end] (digits) lies in a hex word of 32+ characters with a letter."""
    left = words.rfind(b".", max(0, start - _WORD_REACH), start) + 1 or max(0, start - _WORD_REACH)
    right = words.find(b".", end, end + _WORD_REACH)
    right = right if right >= 0 else min(len(words), end + _WORD_REACH)
    word = skel[left:right]
    return right - left >= 32 and b"l" not in word and b"h" in word


def _excluded(skel: bytes, words: bytes, groups: list[tuple[int, int]]) -> set[int]:
    """Indexes of ``groups`` inside a digest; only a run's first and last group touch a letter."""
    ends = {0, len(groups) - 1} if groups else set()
    return {i for i in ends if _in_digest(skel, words, *groups[i])}


# Group sizes a card is printed in besides equal groups: American Express and Diners Club.
_PRINTED = frozenset({(4, 6, 5), (4, 6, 4)})
# Equal groups a card number is written in: 4s (and 4-4-4-4-3), 5s, 8+8, one digit at a time.
# Not 2, 3, 6 or 7: amounts (12.50), dates (10/03/26), addresses and microseconds come in those.
_EQUAL_GROUPS = frozenset({1, 4, 5, 8})


def _printed(sizes: list[int]) -> bool:
    """Groups as a card number is written: equal groups (the last may be shorter), or 4-6-5 /
    4-6-4. Anything else (a time, then an amount; a date; a phone number) is several numbers."""
    if len(sizes) == 1 or tuple(sizes) in _PRINTED:
        return True
    size = sizes[0]
    return size in _EQUAL_GROUPS and all(s == size for s in sizes[:-1]) and sizes[-1] <= size


def _windows(groups: list[tuple[int, int]], digits: list[str]) -> list[tuple[int, int, str]]:
    """(first, last, digits) of the Luhn-valid card numbers among consecutive ``groups``."""
    found: list[tuple[int, int, str]] = []
    first = 0
    while first < len(groups):
        best: tuple[int, str] | None = None
        joined = ""
        for last in range(first, len(groups)):
            joined += digits[last]
            if len(joined) > 19:
                break
            sizes = [len(d) for d in digits[first : last + 1]]
            if len(joined) >= 13 and _printed(sizes) and luhn_valid(joined):
                best = (last, joined)
        if best is None:
            first += 1
            continue
        found.append((first, best[0], best[1]))
        first = best[0] + 1
    return found


def _run_spans(
    skel: bytes, words: bytes, start: int, end: int, budget: ScanBudget
) -> list[tuple[int, int, str]]:
    """Card numbers in one run (digits and separators only) at skel[start:end]."""
    run = skel[start:end]
    flags = run.translate(_FLAG)
    budget.spend(flags.count(b" d") + (1 if flags[:1] == b"d" else 0))
    groups = [(start + m.start(), start + m.end()) for m in _GROUP.finditer(run)]
    digits = [skel[a:b].decode("ascii") for a, b in groups]
    skip = _excluded(skel, words, groups)
    found: list[tuple[int, int, str]] = []
    segment: list[int] = []
    for index in [*range(len(groups)), -1]:
        if index >= 0 and index not in skip:
            segment.append(index)
            continue
        if segment:
            picked = _windows([groups[i] for i in segment], [digits[i] for i in segment])
            for first, last, number in picked:
                found.append((groups[segment[first]][0], groups[segment[last]][1], number))
        segment = []
    return found


def pan_spans(text: str, budget: ScanBudget | None = None) -> list[tuple[int, int, str]]:
    """(start, end, digits) of every card number in ``text``; offsets are ``text``'s own.

    Raises TooDense when the text would cost more than ``budget`` (a fresh one by default).
    """
    skel = skeleton(text)
    flags = skel.translate(_FLAG, b" ")  # separators gone: a run of 13 "d" is a candidate
    hit = flags.find(_THIRTEEN)
    if hit < 0:
        return []
    if b"h" in skel:  # UUIDs out first: a body of UUIDs is not a dense body
        skel = _mask_uuids(skel)
        flags = skel.translate(_FLAG, b" ")
        hit = flags.find(_THIRTEEN)
        if hit < 0:
            return []
    words = skel.translate(_WORD)
    budget = budget if budget is not None else ScanBudget()
    pieces = skel.translate(_UNLETTER).split(b"x")
    found: list[tuple[int, int, str]] = []
    index, offset, counted = 0, 0, 0
    while hit >= 0:
        target = index + flags.count(b"x", counted, hit)
        offset += sum(map(len, pieces[index:target])) + (target - index)
        index, counted = target, hit
        found.extend(_run_spans(skel, words, offset, offset + len(pieces[index]), budget))
        after = flags.find(b"x", hit)
        hit = -1 if after < 0 else flags.find(_THIRTEEN, after)
    return found


def has_pan(text: str, budget: ScanBudget | None = None) -> bool:
    """True when ``text`` holds a card number (TooDense when it costs more than ``budget``)."""
    return bool(pan_spans(text, budget))
