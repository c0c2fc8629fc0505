"""Top-1 and top-3 accuracy of the suggester and of the string-similarity baseline on a labelled
set (``bench/data/mapping_labels.json``: target fields of the shipped templates, each with the
one source field its template reads, among every field of the template's source)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from paybridge.insight.suggest import SourceField, Suggester, TargetField, difflib_rank


@dataclass(frozen=True)
class Accuracy:
    labels: int
    top1: float
    top3: float
    base_top1: float
    base_top3: float
    misses: tuple[str, ...]  # "template: target <- answer (got first)"


def same_name(a: str, b: str) -> bool:
    return re.sub(r"\W|_", "", a).lower() == re.sub(r"\W|_", "", b).lower()


def evaluate(
    tasks: Iterable[dict[str, Any]], suggester: Suggester, *, differing: bool = False
) -> Accuracy:
    """``differing``: only labels whose answer is spelled unlike its target."""
    n = hit1 = hit3 = b1 = b3 = 0
    misses = []
    for task in tasks:
        sources = [
            SourceField(
                s["path"], s["type"], tuple(s["samples"]), s.get("label", ""), bool(s.get("key"))
            )
            for s in task["sources"]
        ]
        for t in task["targets"]:
            if differing and same_name(t["name"], t["answer"]):
                continue
            target = TargetField(t["name"], t["type"], t.get("label", ""))
            ranked = [s.source for s in suggester.rank(target, sources)]
            base = difflib_rank(target, sources)
            n += 1
            hit1 += ranked[0] == t["answer"]
            hit3 += t["answer"] in ranked[:3]
            b1 += base[0] == t["answer"]
            b3 += t["answer"] in base[:3]
            if t["answer"] not in ranked[:3]:
                misses.append(f"{task['template']}: {t['name']} <- {t['answer']} (got {ranked[0]})")
    d = max(n, 1)
    return Accuracy(n, hit1 / d, hit3 / d, b1 / d, b3 / d, tuple(misses))
