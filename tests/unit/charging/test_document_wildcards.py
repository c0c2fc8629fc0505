"""An invoice or order number with a D365 wildcard is refused before D365 is asked anything.

F&O reads ``*`` (and ``?``) inside an OData ``eq`` as a wildcard: ``InvoiceNumber eq '*'`` would
read the company's whole invoice list.
"""

from __future__ import annotations

from typing import Any

import pytest

from paybridge.charging.documents import read_document
from paybridge.charging.records import ChargeRequest
from paybridge.errors import DataError

pytestmark = pytest.mark.anyio


class RecordingDynamics:
    """Stands in for DynamicsClient: records every read, holds no documents."""

    def __init__(self) -> None:
        self.reads: list[tuple[str, Any]] = []

    async def query(self, entity_set: str, query: Any = None) -> list[dict[str, Any]]:
        self.reads.append((entity_set, query))
        return []

    async def find_by_reference(self, entity_set: str, *args: Any, **kwargs: Any) -> list[Any]:
        self.reads.append((entity_set, args))
        return []


@pytest.mark.parametrize(
    ("field", "number"),
    [
        ("invoice_number", "*"),
        ("invoice_number", "CIV-*"),
        ("invoice_number", "CIV-00010?"),
        ("sales_order_number", "*"),
    ],
)
async def test_a_wildcard_number_is_refused_naming_the_field(field: str, number: str) -> None:
    dynamics = RecordingDynamics()
    request = ChargeRequest.model_validate({"company": "usmf", field: number})
    with pytest.raises(DataError) as refused:
        await read_document(dynamics, request)  # type: ignore[arg-type]
    assert refused.value.fields == {field: "must not contain * or ? (D365 reads them as wildcards)"}
    assert dynamics.reads == []


async def test_an_ordinary_number_is_looked_up() -> None:
    dynamics = RecordingDynamics()
    request = ChargeRequest.model_validate({"company": "usmf", "invoice_number": "CIV-000101"})
    with pytest.raises(DataError) as missing:
        await read_document(dynamics, request)  # type: ignore[arg-type]
    assert missing.value.fields == {"invoice_number": "no invoice CIV-000101 in company usmf"}
    assert [entity for entity, _ in dynamics.reads] == ["SalesInvoiceHeadersV2"]
