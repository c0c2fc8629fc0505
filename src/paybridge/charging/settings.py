"""``charging:`` settings: how long a charge with a lost reply may still be in flight, and the sweep."""

from __future__ import annotations

from pydantic import Field

from paybridge.config import Section


class ChargingSettings(Section):
    # "Not found in PayTrace" proves nothing until this long after the send (None: the PayTrace
    # client's timeout plus a minute).
    in_doubt_grace_seconds: float | None = Field(default=None, gt=0)
    # How often charges left pending by a dead process are handed to the resolver.
    sweep_interval_seconds: float = Field(default=60.0, gt=0)
    # A key this store never charged is looked up in PayTrace this many days back before its
    # first send: a store restored from a backup (or new) must not charge again what it charged
    # since. 0 turns the look-up off (one PayTrace export request less per new charge).
    first_send_lookback_days: int = Field(default=7, ge=0, le=45)
