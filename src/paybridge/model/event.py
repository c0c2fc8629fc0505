"""An event: one fact from either system, keyed for exactly-once, as the inbox stores it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from paybridge.model.validators import optional_utc, to_utc


class SourceSystem(StrEnum):
    PAYTRACE = "paytrace"
    DYNAMICS = "dynamics"
    API = "api"


class Event(BaseModel):
    """``key`` is deterministic (``paytrace:<id>:<kind>`` or a caller's idempotency key).

    ``mapped_with`` records the template (``name@version``) that translated it, so that it can be
    re-mapped with a newer version as a dry run.
    """

    model_config = ConfigDict(frozen=True)

    key: str = Field(min_length=1)
    type: str = Field(min_length=1)
    source: SourceSystem
    occurred_at: datetime
    received_at: datetime | None = None
    payload: dict[str, Any] = Field(default_factory=dict)
    mapped_with: str | None = None

    _occurred = field_validator("occurred_at")(to_utc)
    _received = field_validator("received_at")(optional_utc)
