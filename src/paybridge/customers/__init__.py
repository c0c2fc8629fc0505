"""Customers (about 680 lines): D365 customers from PayTrace profiles, two-way sync, cards on file.

- ``sync``: ``CustomerCreator`` (a missing D365 customer created once from its PayTrace profile,
  used by order-to-cash) and ``CustomerSync`` (incremental both ways; cards only as Protect tokens).
- ``card_links``: ``CardLinks``, card-on-file requests: a signed, expiring, single-use link to a
  page with PayTrace Protect's fields; the token pair it sends puts the card on file through
  ``CardTokens`` (in ``sync``).
- ``settings``: the ``sync:`` and ``cards:`` sections.

Contributes: job ``customers.sync`` when ``sync.enabled``; ``CardLinks`` for the API's
``/v1/card-requests`` and ``/card/<token>`` and for ``paybridge customers card-link``.
"""
