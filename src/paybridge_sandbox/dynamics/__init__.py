"""Faithful local emulator of the Dynamics 365 Finance & Operations OData API (with Entra ID).

Public entry: ``create_app(settings, clock=...)`` returns the ASGI app; its state is
``app.state.sandbox``. See ``app.py`` for the routes and each module's docstring for what of the
spec it implements and what it leaves out.
"""

from paybridge_sandbox.dynamics.app import create_app
from paybridge_sandbox.dynamics.settings import (
    ClientRegistration,
    DynamicsSandboxSettings,
    SandboxClock,
    ThrottleSettings,
)

__all__ = [
    "ClientRegistration",
    "DynamicsSandboxSettings",
    "SandboxClock",
    "ThrottleSettings",
    "create_app",
]
