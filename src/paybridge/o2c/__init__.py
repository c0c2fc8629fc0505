"""Order-to-cash (about 1,500 lines): every PayTrace payment state becomes the right D365 records, once.

- ``facts``: the published interface: a PayTrace change as a canonical ``Transaction`` (through
  the ``paytrace_export_to_transaction`` template) in a ``payment`` envelope (charging, billing
  and reconcile publish through it).
- ``screening``: the published interface of a screen the ``payment`` handler asks before routing
  (insight's, when enabled): pass, hold (the message waits, not counted), withhold.
- ``ingest``: the poller's side: PayTrace's changes into the inbox with the cursor, one transaction.
- ``events``: signed inbound events, checked against PayTrace before anything is published.
- ``posting``: the ``payment`` handler: route to a customer payment journal line (credit, debit,
  reversal), prepayments against orders, customers created on demand.
- ``journals``: journal headers per company and day, line numbers, the ``$batch`` line writer.
- ``order_status``: hold/release of the sales order an authorization names.
- ``cutoff``: the day's journals posted at ``o2c.post_at`` (job ``d365.post_journals``).
- ``settings``: the ``o2c:`` and ``poller:`` sections.

Contributes: handlers for ``payment`` and ``payment.unreadable``; jobs ``paytrace.poll`` and,
with ``o2c.post_journals``, ``d365.post_journals``.
"""
