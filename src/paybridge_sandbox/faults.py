"""Scripted and random faults for both sandboxes: 5xx, 429, latency, resets, commit-then-drop."""

from __future__ import annotations


class DroppedConnection(Exception):
    """Raised by the fault layer after the request took effect, to drop the response.

    Served over a socket the connection is closed before the body is complete, so the client
    sees a transport error after the server committed. In-process, the test transport in
    ``tests/conftest.py`` turns it into ``httpx.ReadTimeout``.
    """
