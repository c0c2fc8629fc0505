"""Faithful local emulators of the PayTrace v1 API and the D365 F&O OData API."""

__version__ = "0.1.0"
