"""Insight's tables (revision 0015_insight): every score with its reasons and review state, and
which rows and seed made each model version.

A score row is written once per fact key and never rescored: a retry, a replay or a second
worker reads the verdict the first screening recorded. Only the review columns change after
(held -> released | confirmed), each by a compare-and-set. No card data: the card is its masked
number, the customer its PayTrace id.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, Integer, String, Table, Text

from paybridge.store.schema import UtcDateTime, metadata

insight_scores = Table(
    "insight_scores",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("key", String(200), nullable=False, unique=True),  # the fact key paytrace:<id>:<kind>
    Column("transaction_id", String(40), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("seen_at", UtcDateTime(), nullable=False),  # when the transaction happened
    Column("amount", String(40), nullable=False),  # Decimal as text
    Column("currency", String(3), nullable=False),
    Column("customer", String(80), nullable=False, default=""),
    Column("card", String(40), nullable=False, default=""),  # masked number only
    Column("ip", String(64), nullable=False, default=""),
    Column("signals", Text, nullable=False),  # JSON: avs, csc, countries, local hour
    Column("features", Text, nullable=False),  # JSON list, in insight.features.FEATURES order
    Column("score", Float, nullable=False),
    Column("reasons", Text, nullable=False),  # JSON list of sentences, strongest first
    Column("model_version", String(40), nullable=False),
    # clear | alerted (above the threshold, not held) | held | released | confirmed
    Column("state", String(12), nullable=False),
    Column("decided_by", String(120), nullable=True),
    Column("decided_at", UtcDateTime(), nullable=True),
    Column("note", Text, nullable=True),
    Column("scored_at", UtcDateTime(), nullable=False),
)
Index("ix_insight_scores_state", insight_scores.c.state, insight_scores.c.id)
Index("ix_insight_scores_customer", insight_scores.c.customer, insight_scores.c.seen_at)
Index("ix_insight_scores_card", insight_scores.c.card, insight_scores.c.seen_at)
Index("ix_insight_scores_ip", insight_scores.c.ip, insight_scores.c.seen_at)

insight_models = Table(
    "insight_models",
    metadata,
    Column("version", String(40), primary_key=True),
    Column("trained_at", UtcDateTime(), nullable=False),
    Column("first_id", BigInteger().with_variant(Integer, "sqlite"), nullable=False),
    Column("last_id", BigInteger().with_variant(Integer, "sqlite"), nullable=False),
    Column("rows", Integer, nullable=False),
    Column("frauds", Integer, nullable=False),  # confirmed frauds among the rows
    Column("seed", Integer, nullable=False),
)
Index("ix_insight_models_trained", insight_models.c.trained_at)
