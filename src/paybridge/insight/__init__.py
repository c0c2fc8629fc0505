"""Insight (optional, `paybridge[insight]`): fraud scoring, hold-for-review, mapping suggestions."""
