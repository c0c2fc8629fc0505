"""Operating PayBridge (about 1,300 lines): metrics, readiness, logs, alerts.

- ``settings``: the ``logging:``, ``metrics:`` and ``alerting:`` sections.
- ``logs``: level, text or JSON lines, quiet HTTP libraries; the card-data mask on every handler.
- ``counters``: this process's own counters and the httpx client that counts its requests.
- ``heartbeat``: each engine process's row in the store, with its counters.
- ``figures``: what lives in the store (queue, dead letters, intents, charges, reconciliation,
  processes), read in a few grouped queries.
- ``metrics``: the Prometheus collector over ``figures`` and the approval -> ledger histogram.
- ``ready``: cached probes of the store and both systems for ``/ready``.
- ``alert``, ``channels``, ``rules``, ``desk``: alert rules as data, the channels (SMTP, Slack,
  Teams, signed webhooks), de-duplication and rate limits, delivery through the queue.

Contributes (wired by ``app.ops``): handlers for ``alert``, ``billing.alert`` and
``alert.deliver``; job ``alerts.evaluate``; ``/metrics`` and ``/ready`` (``web.routes_ops``).
Imports runtime, store, security and the shared vocabulary, never a connector or a capability:
what it needs of PayTrace and D365 (readiness probes, how a billing alert reads) is handed in.
"""
