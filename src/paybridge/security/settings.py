"""The ``audit:`` settings section: where the audit chain's key and its anchored head are kept."""

from __future__ import annotations

from pathlib import Path

from paybridge.config import Section


class AuditSettings(Section):
    """Both default to files beside a SQLite store (``<store>.audit.key``, ``<store>.audit-head``)
    or, for another database, in ``var/``. Keep the key file where whoever can write the database
    cannot read it (another owner, another host, or ``PAYBRIDGE_AUDIT_KEY`` from a secret manager).
    """

    # One base64 key per line, mode 0600, the first active; made on first use when missing.
    key_file: Path | None = None
    # The newest (seq, hmac) written after every append, mode 0600; ``audit verify`` checks it.
    anchor_file: Path | None = None
