"""Checks (ACH) on PayTrace v1: sales, holds, fund, void and refund (spec §5.14)."""

from __future__ import annotations

from paybridge.connectors.paytrace.outcome import Endpoint
from paybridge.connectors.paytrace.requests import (
    CheckManageRequest,
    CheckSaleByAccountRequest,
    CheckSaleByCustomerRequest,
)
from paybridge.connectors.paytrace.responses import CheckResponse
from paybridge.connectors.paytrace.session import PayTraceSession

_C = "/v1/checks"
CHECK_SALE_BY_ACCOUNT = Endpoint("check_sale_by_account", f"{_C}/sale/by_account", "money")
CHECK_SALE_BY_CUSTOMER = Endpoint("check_sale_by_customer", f"{_C}/sale/by_customer", "money")
CHECK_HOLD_BY_ACCOUNT = Endpoint("check_hold_by_account", f"{_C}/hold/by_account", "money")
CHECK_HOLD_BY_CUSTOMER = Endpoint("check_hold_by_customer", f"{_C}/hold/by_customer", "money")
CHECK_FUND = Endpoint("check_fund", f"{_C}/manage/fund", "money")
CHECK_VOID = Endpoint("check_void", f"{_C}/manage/void", "money")
CHECK_REFUND = Endpoint("check_refund", f"{_C}/refund/by_transaction", "money")


class CheckOperations:
    """ACH calls; every one moves money, so none is ever repeated by the client."""

    _session: PayTraceSession

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

    async def _check(
        self,
        endpoint: Endpoint,
        request: CheckSaleByAccountRequest | CheckSaleByCustomerRequest | CheckManageRequest,
        reference: str,
    ) -> CheckResponse:
        return await self._session.call(endpoint, request, CheckResponse, reference)
