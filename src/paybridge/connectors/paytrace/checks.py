"""Checks (ACH) on PayTrace v1: sales, holds, fund, void, refund (spec §5.14) and the export.

The check export's path is not public (spec §13): it is ``paytrace.check_export_path``, read
like the card export (a read, retried by the client), its records tolerant of field names."""

from __future__ import annotations

from paybridge.connectors.paytrace.outcome import Endpoint
from paybridge.connectors.paytrace.requests import (
    CheckExportRequest,
    CheckManageRequest,
    CheckSaleByAccountRequest,
    CheckSaleByCustomerRequest,
)
from paybridge.connectors.paytrace.responses import (
    CheckExportResponse,
    CheckRecord,
    CheckResponse,
)
from paybridge.connectors.paytrace.session import PayTraceSession

_C = "/v1/checks"
CHECK_SALE_BY_ACCOUNT = Endpoint("check_sale_by_account", f"{_C}/sale/by_account", "money")
CHECK_SALE_BY_CUSTOMER = Endpoint("check_sale_by_customer", f"{_C}/sale/by_customer", "money")
CHECK_HOLD_BY_ACCOUNT = Endpoint("check_hold_by_account", f"{_C}/hold/by_account", "money")
CHECK_HOLD_BY_CUSTOMER = Endpoint("check_hold_by_customer", f"{_C}/hold/by_customer", "money")
CHECK_FUND = Endpoint("check_fund", f"{_C}/manage/fund", "money")
CHECK_VOID = Endpoint("check_void", f"{_C}/manage/void", "money")
CHECK_REFUND = Endpoint("check_refund", f"{_C}/refund/by_transaction", "money")
CHECK_EXPORT_PATH = f"{_C}/export/by_date_range"  # spec §13: not public; the emulator's


class CheckOperations:
    """ACH calls; every one moves money, so none is ever repeated by the client."""

    _session: PayTraceSession
    check_export_path: str = CHECK_EXPORT_PATH

    async def check_sale_by_account(self, request: CheckSaleByAccountRequest) -> CheckResponse:
        return await self._check(CHECK_SALE_BY_ACCOUNT, request, request.reference)

    async def check_sale_by_customer(self, request: CheckSaleByCustomerRequest) -> CheckResponse:
        return await self._check(CHECK_SALE_BY_CUSTOMER, request, request.reference)

    async def check_hold_by_account(self, request: CheckSaleByAccountRequest) -> CheckResponse:
        return await self._check(CHECK_HOLD_BY_ACCOUNT, request, request.reference)

    async def check_hold_by_customer(self, request: CheckSaleByCustomerRequest) -> CheckResponse:
        return await self._check(CHECK_HOLD_BY_CUSTOMER, request, request.reference)

    async def check_fund(self, request: CheckManageRequest) -> CheckResponse:
        return await self._check(CHECK_FUND, request, str(request.check_transaction_id))

    async def check_void(self, check_transaction_id: int) -> CheckResponse:
        request = CheckManageRequest(check_transaction_id=check_transaction_id)
        return await self._check(CHECK_VOID, request, str(check_transaction_id))

    async def check_refund(self, request: CheckManageRequest) -> CheckResponse:
        return await self._check(CHECK_REFUND, request, str(request.check_transaction_id))

    async def export_checks(self, request: CheckExportRequest) -> list[CheckRecord]:
        """Checks created or changed on the request's days (a read: retried, never in doubt)."""
        endpoint = Endpoint("check_export", self.check_export_path, "read")
        reply = await self._session.call(endpoint, request, CheckExportResponse, "")
        return reply.checks

    async def _check(
        self,
        endpoint: Endpoint,
        request: CheckSaleByAccountRequest | CheckSaleByCustomerRequest | CheckManageRequest,
        reference: str,
    ) -> CheckResponse:
        return await self._session.call(endpoint, request, CheckResponse, reference)
