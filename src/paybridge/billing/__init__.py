"""Recurring billing with dunning (about 1,100 lines): subscriptions charged on their schedule, once a period.

- ``subscriptions``: schedules (PayTrace's frequencies, month ends clamped) and their model.
- ``store``: subscriptions and their period charges in PayBridge's store.
- ``run``: ``BillingRun``: settle holds, open due periods, charge (through
  ``charging.charge_once``, the one import from charging), dun what is refused.
- ``dunning``: retry days, D365 customer hold and release, ``billing.alert`` events.
- ``settings``: the ``billing:`` section.

Contributes: ``dunning.describe_alert``, how a ``billing.alert`` reads as an alert (the alerting
desk in ``ops`` handles the topic and sends it to the channels); job ``billing.charge`` when
``billing.enabled``. Publishes approved charges through ``o2c.facts``.
"""
