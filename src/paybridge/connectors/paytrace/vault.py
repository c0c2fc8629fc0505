"""Customer vault, PayTrace Protect and recurring payments: the stored-payment side of v1."""

from __future__ import annotations

from paybridge.connectors.paytrace.outcome import Endpoint
from paybridge.connectors.paytrace.requests import (
    CustomerCreateRequest,
    CustomerDeleteRequest,
    CustomerExportRequest,
    CustomerUpdateRequest,
    ProtectCustomerRequest,
    RecurrenceCreateRequest,
    RecurrenceDeleteRequest,
    RecurrenceExportRequest,
    RecurrenceId,
    RecurrenceUpdateRequest,
)
from paybridge.connectors.paytrace.responses import (
    ClientKeyResponse,
    CustomerExportResponse,
    CustomerRecord,
    CustomerResponse,
    ExportResponse,
    RecurrenceExportResponse,
    RecurrenceRecord,
    RecurrenceResponse,
    TransactionRecord,
)
from paybridge.connectors.paytrace.session import PayTraceSession

CUSTOMER_CREATE = Endpoint("create_customer", "/v1/customer/create", "write")
CUSTOMER_UPDATE = Endpoint("update_customer", "/v1/customer/update", "write")
CUSTOMER_DELETE = Endpoint("delete_customer", "/v1/customer/delete", "write")
CUSTOMER_EXPORT = Endpoint("export_customers", "/v1/customer/export", "read")
PROTECT_CUSTOMER_CREATE = Endpoint(
    "create_customer_pt_protect", "/v1/customer/pt_protect_create", "write"
)
PROTECT_CUSTOMER_UPDATE = Endpoint(
    "update_customer_pt_protect", "/v1/customer/pt_protect_update", "write"
)
# Minting a Protect client key changes nothing that matters, so it may be repeated.
CLIENT_KEY = Endpoint("create_client_key", "/v1/payment_fields/token/create", "read")
RECURRENCE_CREATE = Endpoint("create_recurrence", "/v1/recurrence/create", "write")
RECURRENCE_UPDATE = Endpoint("update_recurrence", "/v1/recurrence/update", "write")
RECURRENCE_DELETE = Endpoint("delete_recurrence", "/v1/recurrence/delete", "write")
RECURRENCE_EXPORT = Endpoint("export_recurrences", "/v1/recurrence/export_scheduled", "read")
RECURRENCE_APPROVED = Endpoint(
    "export_approved_recurring", "/v1/recurrence/export_approved", "read"
)


class VaultOperations:
    """Customer profiles, Protect keys and recurring payments; mixed into PayTraceClient."""

    _session: PayTraceSession

    async def create_customer(self, request: CustomerCreateRequest) -> CustomerResponse:
        """A vault profile; in doubt, look it up with ``export_customers(customer_id=...)``."""
        return await self._session.call(
            CUSTOMER_CREATE, request, CustomerResponse, request.customer_id
        )

    async def update_customer(self, request: CustomerUpdateRequest) -> CustomerResponse:
        return await self._session.call(
            CUSTOMER_UPDATE, request, CustomerResponse, request.customer_id
        )

    async def delete_customer(self, customer_id: str) -> CustomerResponse:
        request = CustomerDeleteRequest(customer_id=customer_id)
        return await self._session.call(CUSTOMER_DELETE, request, CustomerResponse, customer_id)

    async def export_customers(
        self, request: CustomerExportRequest | None = None
    ) -> list[CustomerRecord]:
        reply = await self._session.call(
            CUSTOMER_EXPORT, request or CustomerExportRequest(), CustomerExportResponse
        )
        return reply.customers

    async def create_customer_pt_protect(self, request: ProtectCustomerRequest) -> CustomerResponse:
        return await self._session.call(
            PROTECT_CUSTOMER_CREATE, request, CustomerResponse, request.customer_id
        )

    async def update_customer_pt_protect(self, request: ProtectCustomerRequest) -> CustomerResponse:
        return await self._session.call(
            PROTECT_CUSTOMER_UPDATE, request, CustomerResponse, request.customer_id
        )

    async def create_client_key(self) -> str:
        """A PayTrace Protect ``clientKey`` for the browser's hosted payment fields."""
        return (await self._session.call(CLIENT_KEY, None, ClientKeyResponse)).clientKey

    async def create_recurrence(self, request: RecurrenceCreateRequest) -> RecurrenceResponse:
        return await self._session.call(
            RECURRENCE_CREATE, request, RecurrenceResponse, request.customer_id
        )

    async def update_recurrence(self, request: RecurrenceUpdateRequest) -> RecurrenceResponse:
        ref = str(request.recurrence.id)
        return await self._session.call(RECURRENCE_UPDATE, request, RecurrenceResponse, ref)

    async def delete_recurrence(self, recurrence_id: int) -> RecurrenceResponse:
        request = RecurrenceDeleteRequest(recurrence=RecurrenceId(id=recurrence_id))
        ref = str(recurrence_id)
        return await self._session.call(RECURRENCE_DELETE, request, RecurrenceResponse, ref)

    async def export_recurrences(self, request: RecurrenceExportRequest) -> list[RecurrenceRecord]:
        reply = await self._session.call(RECURRENCE_EXPORT, request, RecurrenceExportResponse)
        if not reply.recurrences and reply.recurrence is not None:
            return [reply.recurrence]
        return reply.recurrences

    async def export_approved_recurring(self, customer_id: str) -> list[TransactionRecord]:
        """Approved recurring charges PayTrace made for ``customer_id`` (e.g. overnight)."""
        request = RecurrenceExportRequest(customer_id=customer_id)
        return (await self._session.call(RECURRENCE_APPROVED, request, ExportResponse)).transactions
