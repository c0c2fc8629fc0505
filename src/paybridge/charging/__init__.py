"""Request/reply charging (about 750 lines): a D365 invoice or order charged once per idempotency key.

- ``service``: ``ChargeService``: claim the key, plan the PayTrace charge as an intent, send it
  once, look a lost reply up (the ``charge.resolve`` handler), sweep abandoned charges.
- ``records``: the ``charges`` rows (one request body per key, the answer kept).
- ``documents``: the D365 invoice or sales order and its open amount.
- ``settings``: the ``charging:`` section.

Contributes: handler for ``charge.resolve``; job ``charges.sweep``. Publishes approved charges
as ``payment`` facts through ``o2c.facts``.
"""
