"""The ``insight:`` settings section: fraud scoring, its policy, retraining, mapping suggestions.

It lives in ``app`` rather than in ``paybridge.insight`` so that the settings root can validate
it without importing the optional package: with ``insight.enabled: false`` (the default)
nothing of ``paybridge.insight`` (nor scikit-learn, numpy, onnxruntime) is imported.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from paybridge.config import Section

HoldKind = Literal["sale", "capture", "refund", "authorization"]
DEFAULT_HOLD_KINDS: tuple[HoldKind, ...] = ("sale", "capture", "refund")


class InsightSettings(Section):
    enabled: bool = False
    # A transaction scoring at or above the threshold (0..1) is acted on: held for review
    # (its D365 posting waits until a person releases or confirms it) or only alerted.
    threshold: float = Field(default=0.5, gt=0, le=1)
    action: Literal["hold", "alert"] = "hold"
    # Which facts may be held; others (declines, voids, settlements) are scored, never held.
    hold_kinds: list[HoldKind] = Field(default_factory=lambda: list(DEFAULT_HOLD_KINDS))
    # A held message looks again this often (a release wakes it at once when it is not leased).
    recheck_seconds: float = Field(default=30.0, gt=0, le=3600)
    # The model retrains from the store this often (job ``insight.retrain``), on at most
    # ``training_rows`` of the newest scores; ``seed`` makes a version reproducible.
    retrain_interval_seconds: float = Field(default=3600.0, ge=10)
    training_rows: int = Field(default=50_000, ge=100)
    seed: int = 7
    # How far back a customer's, card's and IP's history reaches when a transaction is scored.
    history_days: int = Field(default=30, ge=1, le=365)
    # Card BIN prefixes (from masked numbers that show them) -> issuing country (2 letters), for
    # the BIN-country-against-billing-address signal; empty: the signal is off.
    bin_countries: dict[str, str] = Field(default_factory=dict)
    # Confidence below which `mapping suggest` leaves a target field without a suggestion.
    suggest_min_confidence: float = Field(default=0.35, ge=0, le=1)

    @field_validator("bin_countries")
    @classmethod
    def _countries(cls, value: dict[str, str]) -> dict[str, str]:
        for prefix, country in value.items():
            if not prefix.isdigit() or not (len(country) == 2 and country.isalpha()):
                raise ValueError(
                    f"insight.bin_countries: {prefix!r}: {country!r} must be digits: a 2-letter country"
                )
        return {k: v.upper() for k, v in value.items()}
