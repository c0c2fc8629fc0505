"""Faithful local emulator of the Dynamics 365 Finance & Operations OData API (with Entra ID).

Public entry: ``create_app(settings, clock=..., sleep=...)`` returns the ASGI app; its state is
``app.state.sandbox`` (a ``state.Sandbox``: ``.engine``, ``.store``, ``.clock``, ``.faults``,
``.throttle``). Routes are listed in ``app.py``; emulator-only parts are the ``/_sandbox/``
admin endpoints, ``POST /api/services/PayBridgeSandbox/Journals/post`` (``posting.py``) and
``POST /api/services/PayBridgeSandbox/SalesOrders/invoice|creditNote|cancel`` (``invoicing.py``:
what a person does to an order in F&O's client, which no OData action does).
``SalesOrderLines`` is served read-only, as a view over ``SalesOrderLinesV3``'s rows, so
``SalesOrderHeadersV2?$expand=SalesOrderLines`` answers as F&O does.

What the sandbox does NOT do, and why:
- DMF package / recurring-integration APIs, bound OData actions and ``/Metadata/Labels`` are not
  served (outside the payments write path).
- Only the served entity sets exist (see ``entities/_catalog.json``); navigation properties to
  sets it does not serve are left out of ``$metadata`` (e.g. ``SalesOrderHeadersV2``'s
  ``DimensionSet``). Writes through ``SalesOrderLines`` are refused (use ``SalesOrderLinesV3``).
- Field lists are the 2025 reference metadata; real environments have extension fields. The
  members of 53 enum types absent from the spec's enum list are approximations
  (``entities/_enums_sandbox.json``).
- ``$filter`` query functions (``contains()``...), ``in`` and ``has`` are refused (400);
  ``Prefer`` headers and JSON ``$batch`` are not supported (F&O does not document them).
- PUT behaves like PATCH (only the supplied properties change): the real reset semantics are
  not captured.
- Service protection (``protection.py``) is per principal as the documented user-based limits
  (requests and execution time per sliding window, concurrent requests), off by default; one
  sandbox stands for one web server, and priority-based throttling is not emulated.
- Posting (emulator-only) writes payment customer transactions and settles marked invoices; it
  does not create general-ledger vouchers, cash discounts or exchange-rate differences.
- Tokens are HS256 JWTs signed by the sandbox (not Entra's RS256); they verify only here.
- Message texts marked "sandbox wording" in the rule modules (posted journals, journal type,
  unknown accounts, 401/403/404/412 bodies) are plausible, not captured, F&O texts.
"""

from paybridge_sandbox.dynamics.app import DynamicsSandboxApp, create_app
from paybridge_sandbox.dynamics.protection import ThrottleSettings
from paybridge_sandbox.dynamics.settings import (
    ClientRegistration,
    DynamicsSandboxSettings,
    SandboxClock,
)

__all__ = [
    "ClientRegistration",
    "DynamicsSandboxApp",
    "DynamicsSandboxSettings",
    "SandboxClock",
    "ThrottleSettings",
    "create_app",
]
