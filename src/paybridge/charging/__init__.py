"""Request/reply charging (about 1,080 lines): a D365 invoice or order charged once per idempotency key.

- ``charge_once``: the published interface (billing uses it too): a planned PayTrace charge
  intent sent once by customer profile, a lost reply looked up by its reference, a grace before
  an absence is trusted.
- ``service``: ``ChargeService``: claim the key, map the document through its template and plan
  the charge, send it once, look a lost reply up (the ``charge.resolve`` handler), sweep
  abandoned charges.
- ``records``: the ``charges`` rows (one request body per key, the answer kept).
- ``documents``: the D365 invoice or sales order (the fields it and its template read) and its
  open amount.
- ``settings``: the ``charging:`` section.

Contributes: handler for ``charge.resolve``; job ``charges.sweep``. Publishes approved charges
as ``payment`` facts through ``o2c.facts``.
"""
