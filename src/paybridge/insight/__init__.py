"""Insight (optional, about 1,700 lines): fraud scoring with hold-for-review, and mapping suggestions.

Installed by ``pip install 'paybridge[insight]'`` and imported only by ``app.insight``, which
``app.engine`` imports when ``insight.enabled`` (and by the ``insight`` and ``mapping suggest``
commands). The settings section is ``app.insight_settings.InsightSettings``.

- ``features``: the ``Seen`` record and its features against the history of customer, card, IP.
- ``rules``: the explainable rules (points and words); also the backtest's baseline.
- ``model`` / ``forest``: isolation forest (evaluated as arrays), the blend with the rules, the
  logistic layer learned from confirmed reviews; reasons in words; versions.
- ``store``: scores (once per fact), review states, training rows and model versions.
- ``screen``: ``o2c.screening.PaymentScreen``: score, record, alert, verdict.
- ``review``: release / confirm (optionally void in PayTrace), audited.
- ``models``: the retraining job and each process's copy of the newest model.
- ``synth`` / ``backtest``: labelled synthetic days and the measured comparison with the rules.
- ``embed`` / ``suggest`` / ``suggest_eval``: offline sentence embeddings and mapping suggestions.

Contributes: job ``insight.retrain``; publishes ``alert`` (``payment_held``); the screen in the
``payment`` handler; routes ``/v1/insight/reviews`` and ``/v1/mapping/suggest``.
"""
