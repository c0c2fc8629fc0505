"""Orders: D365 card orders authorized at entry, captured at invoicing, refunded from credit notes.

Holds ``settings`` (the ``orders:`` section), ``records`` (the order book: orders, captures,
refund requests), ``watch`` (job ``orders.watch``: D365 read in chunks, facts published),
``payments`` (handler of ``order.payment``: authorize, capture, close), ``follow_ups`` (captures
and voids sent once, looked up by the authorization's id) and ``refunds`` (maker-checker refund
requests, refunds sent through ``charging.charge_once``). Contributes topic ``order.payment``
with its handler and, when ``orders.enabled``, the job ``orders.watch``.
"""
