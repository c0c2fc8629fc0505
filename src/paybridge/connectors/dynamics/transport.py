"""RedirectTransport: the sandbox/test hook that sends requests for real hosts to local servers."""

from __future__ import annotations

from collections.abc import Mapping

import httpx


class RedirectTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Rewrites URLs that start with a routed prefix onto another base, then sends them on.

    ``RedirectTransport(routes={"https://login.microsoftonline.com": "http://127.0.0.1:8001"})``
    lets MSAL keep its https authority while talking to a local sandbox. The Host header keeps
    the original name, as a DNS override would. Usable as a sync transport (MSAL's
    ``httpx.Client``) and as an async one. Production never uses it: it talks to the real hosts.
    """

    def __init__(
        self,
        routes: Mapping[str, str],
        *,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        # Longest prefix first, so a specific route wins over a general one.
        self._routes = sorted(
            ((src.rstrip("/"), dst.rstrip("/")) for src, dst in routes.items()),
            key=lambda pair: -len(pair[0]),
        )
        self._sync = transport
        self._async = async_transport

    def rewrite(self, url: httpx.URL) -> httpx.URL:
        """The URL this transport will really call for ``url``."""
        text = str(url)
        for source, target in self._routes:
            if text == source or text.startswith(source + "/") or text.startswith(source + "?"):
                return httpx.URL(target + text[len(source) :])
        return url

    def _redirect(self, request: httpx.Request) -> httpx.Request:
        request.url = self.rewrite(request.url)
        return request

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self._sync is None:
            self._sync = httpx.HTTPTransport()
        return self._sync.handle_request(self._redirect(request))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._async is None:
            self._async = httpx.AsyncHTTPTransport()
        return await self._async.handle_async_request(self._redirect(request))

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()

    async def aclose(self) -> None:
        if self._async is not None:
            await self._async.aclose()
