"""PayBridge keeps Dynamics 365 Finance & Operations and PayTrace in exact agreement."""

__version__ = "0.1.0"
