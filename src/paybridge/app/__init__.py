"""The one composition root: settings -> store, clients, every capability, worker, scheduler, API.

``build_engine(settings)`` builds each capability the settings enable (``capabilities``),
collects what each contributes (queue handlers, scheduled jobs, the topics it publishes) and
refuses to start when a published topic has no handler or an enabled job is not scheduled.
``build_api(engine)`` hands the built services to the web routers. Only ``web``, ``cli`` and
``harness`` import this package.
"""
