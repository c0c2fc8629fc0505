"""Mapping suggestions: for each target field, the source fields that most likely feed it.

Three signals per (target, source) pair: what the names mean (the embedding model on the
names spelled out as words, abbreviations expanded, and the D365 label when there is one),
whether the types fit, and whether the source's sample values look like what the target holds
(dates, amounts, e-mail addresses, country or currency codes...). ``difflib_rank`` is the
string-similarity baseline the evaluation compares with.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from paybridge.insight.embed import Embedder

ABBREVIATIONS = {
    "acct": "account", "amt": "amount", "cust": "customer", "txn": "transaction",
    "tx": "transaction", "num": "number", "no": "number", "id": "id number", "dt": "date",
    "addr": "address", "zip": "zip postal code", "qty": "quantity", "desc": "description",
    "ref": "reference", "cur": "currency", "curr": "currency", "inv": "invoice",
    "tel": "telephone", "csc": "card security code", "avs": "address verification",
    "ip": "ip", "po": "purchase order", "data area": "company", "at": "time",
}  # fmt: skip

SHAPES: tuple[tuple[str, Callable[[str], bool]], ...] = (
    ("email", lambda v: bool(re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]{2,}", v, re.I))),
    ("date", lambda v: bool(re.match(r"\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{4}", v))),
    ("money", lambda v: bool(re.fullmatch(r"-?\d+\.\d{2}", v))),
    ("number", lambda v: bool(re.fullmatch(r"-?\d+(\.\d+)?", v))),
    ("phone", lambda v: bool(re.fullmatch(r"[+()\d][\d\s().-]{6,}", v))),
    ("currency", lambda v: v in {"USD", "EUR", "GBP", "CAD", "AUD", "JPY"}),
    ("country", lambda v: bool(re.fullmatch(r"[A-Z]{2,3}", v))),
    ("flag", lambda v: v.lower() in {"true", "false", "yes", "no"}),
)
KIND_WORDS = (
    ("email", ("email",)), ("phone", ("phone", "telephone", "fax")),
    ("currency", ("currency",)), ("country", ("country", "region")),
    ("date", ("date", "time", "when")), ("money", ("amount", "total", "price", "debit", "credit")),
)  # fmt: skip


@dataclass(frozen=True)
class TargetField:
    name: str
    type: str = "Edm.String"
    label: str = ""


@dataclass(frozen=True)
class SourceField:
    path: str
    type: str = "string"
    samples: tuple[str, ...] = ()
    label: str = ""
    key: bool = False  # the source entity's key (what identifies a record of it)


@dataclass(frozen=True)
class Suggestion:
    source: str
    confidence: float
    why: str


def words(name: str) -> str:
    """``PrimaryContactEmail`` / ``billing_address.zip`` -> spelled-out lower-case words."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", name)
    parts = re.split(r"[\s._\-]+", spaced.lower())
    return " ".join(ABBREVIATIONS.get(p, p) for p in parts if p)


def target_kind(field: TargetField) -> str:
    text = words(field.name) + " " + field.label.lower()
    for kind, cues in KIND_WORDS:
        if any(cue in text for cue in cues):
            return kind
    t = field.type.lower()
    if "date" in t:
        return "date"
    if "decimal" in t or "double" in t:
        return "money"
    if "int" in t:
        return "number"
    return "text"


def source_kind(field: SourceField) -> str:
    for kind, fits in SHAPES:
        if field.samples and all(fits(v) for v in field.samples):
            return kind
    t = field.type.lower()
    return {"decimal": "money", "datetime": "date", "date": "date", "integer": "number"}.get(
        t, "text"
    )


FIT = {("money", "number"): 0.8, ("number", "money"): 0.8, ("date", "text"): 0.4,
       ("text", "number"): 0.6, ("country", "text"): 0.5, ("text", "country"): 0.7,
       ("currency", "text"): 0.5, ("text", "currency"): 0.7}  # fmt: skip


def kind_fit(target: str, source: str) -> float:
    if target == source:
        return 1.0
    return FIT.get((target, source), 0.5 if target == "text" else 0.2)


class Suggester:
    def __init__(self, embedder: Embedder | None = None, *, min_confidence: float = 0.35) -> None:
        self._embedder = embedder
        self.min_confidence = min_confidence

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = Embedder()
        return self._embedder

    def rank(self, target: TargetField, sources: Sequence[SourceField]) -> list[Suggestion]:
        """Every source field for ``target``, most likely first, with a confidence in [0, 1]."""
        phrase = words(target.name) + (f" ({target.label.lower()})" if target.label else "")
        t_vec = self.embedder.embed(phrase)
        kind = target_kind(target)
        wants_key = bool(re.search(r"(^|\s)(id|account|number)(\s|$)", words(target.name)))
        scored = []
        for source in sources:
            meaning = float(t_vec @ self.embedder.embed(self._phrase(source)))
            fit = kind_fit(kind, source_kind(source))
            spelled = difflib.SequenceMatcher(None, words(target.name), words(source.path)).ratio()
            key = 0.1 if wants_key and source.key else 0.0
            # Names say what a field means; values that cannot fit (a date from a number) veto.
            total = (0.65 * meaning + 0.35 * spelled) * (0.2 + 0.8 * fit) + key
            scored.append((total, meaning, fit, source.path))
        scored.sort(key=lambda s: -s[0])
        best = scored[0][0] if scored else 0.0
        runner = scored[1][0] if len(scored) > 1 else 0.0
        return [
            Suggestion(path, _confidence(score, best, runner),
                       f"names {meaning:.2f} alike; values fit a {kind} field {fit:.0%}")
            for score, meaning, fit, path in scored
        ]  # fmt: skip

    @staticmethod
    def _phrase(source: SourceField) -> str:
        said = words(source.path)
        return (
            f"{said} ({source.label.lower()})"
            if source.label and source.label.lower() != said
            else said
        )

    def suggest(
        self, targets: Sequence[TargetField], sources: Sequence[SourceField], top: int = 3
    ) -> dict[str, list[Suggestion]]:
        """Per target field, its ``top`` suggestions at or above ``min_confidence``."""
        out = {}
        for target in targets:
            ranked = self.rank(target, sources)[:top]
            out[target.name] = [s for s in ranked if s.confidence >= self.min_confidence]
        return out


def _confidence(score: float, best: float, runner: float) -> float:
    """The pair's score, raised for a clear winner: how far it stands above the runner-up."""
    margin = max(0.0, best - runner) if score == best else 0.0
    return round(float(np.clip(score + margin, 0.0, 1.0)), 3)


def difflib_rank(target: TargetField, sources: Sequence[SourceField]) -> list[str]:
    """The baseline: source paths by string similarity of the raw names, best first."""
    name = target.name.lower()
    ratio = [(difflib.SequenceMatcher(None, name, s.path.lower()).ratio(), s.path) for s in sources]
    return [path for _, path in sorted(ratio, key=lambda r: -r[0])]
