"""Customers (about 460 lines): D365 customers made from PayTrace profiles, and two-way sync.

- ``sync``: ``CustomerCreator`` (a missing D365 customer created once from its PayTrace profile,
  used by order-to-cash) and ``CustomerSync`` (incremental both ways; cards only as Protect tokens).
- ``settings``: the ``sync:`` section.

Contributes: job ``customers.sync`` when ``sync.enabled``.
"""
