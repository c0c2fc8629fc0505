"""ASGI emulator of PayTrace's v1 JSON API; ``create_app`` builds it (see ``app``)."""

from paybridge_sandbox.paytrace.app import PayTraceSandboxApp, create_app
from paybridge_sandbox.paytrace.settings import PayTraceSandboxSettings, SandboxClock

__all__ = ["PayTraceSandboxApp", "PayTraceSandboxSettings", "SandboxClock", "create_app"]
