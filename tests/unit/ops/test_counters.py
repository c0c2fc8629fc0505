"""The metered client counts each request by answer, and failures by kind."""

from __future__ import annotations

import httpx
import pytest

from paybridge.ops.counters import ERRORS, REQUESTS, MeteredClient, ProcessCounters


def answer(request: httpx.Request) -> httpx.Response:
    path = request.url.path
    if path == "/slow":
        raise httpx.ReadTimeout("slow", request=request)
    if path == "/down":
        raise httpx.ConnectError("refused", request=request)
    return httpx.Response(int(path.strip("/")), headers={"Retry-After": "1"})


@pytest.mark.anyio
async def test_requests_are_counted_by_status_and_errors_by_kind() -> None:
    counters = ProcessCounters()
    async with MeteredClient(
        system="dynamics", counters=counters, transport=httpx.MockTransport(answer),
        base_url="http://d365.test",
    ) as client:  # fmt: skip
        for path in ("/200", "/200", "/429", "/401", "/404", "/503"):
            await client.get(path)
        for path in ("/slow", "/down"):
            with pytest.raises(httpx.HTTPError):
                await client.get(path)
    assert counters.get(REQUESTS, system="dynamics", status="200") == 2
    assert counters.get(REQUESTS, system="dynamics", status="429") == 1
    assert counters.get(REQUESTS, system="dynamics", status="error") == 2
    kinds = {k: counters.get(ERRORS, system="dynamics", kind=k) for k in
             ("throttled", "auth", "client", "server", "timeout", "connect")}  # fmt: skip
    assert kinds == dict.fromkeys(kinds, 1.0)
    names = {(row["name"], tuple(sorted(row["labels"].items()))) for row in counters.snapshot()}
    assert (REQUESTS, (("status", "200"), ("system", "dynamics"))) in names
