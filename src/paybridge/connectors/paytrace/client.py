"""PayTraceClient: the typed v1 API (card transactions, exports, batches) over one session."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from paybridge.clock import Clock
from paybridge.connectors.paytrace.checks import CHECK_EXPORT_PATH, CheckOperations
from paybridge.connectors.paytrace.models import PayTraceRequest, PayTraceResponse
from paybridge.connectors.paytrace.outcome import Endpoint
from paybridge.connectors.paytrace.requests import (
    AdjustRequest,
    BatchesExportRequest,
    BatchExportOneRequest,
    BatchTransactionListRequest,
    CaptureRequest,
    CustomerRefundRequest,
    CustomerSaleRequest,
    EmailReceiptRequest,
    ExportByDateRangeRequest,
    ExportByIdRequest,
    KeyedRefundRequest,
    KeyedSaleRequest,
    LevelThreeRequest,
    ProtectCustomerSaleRequest,
    ProtectSaleRequest,
    TransactionRefundRequest,
    TransactionSaleRequest,
    VoidRequest,
)
from paybridge.connectors.paytrace.responses import (
    MERCHANT_TZ,
    BatchesExportResponse,
    BatchExportOneResponse,
    BatchRecord,
    ExportMemo,
    ExportResponse,
    TransactionRecord,
    TransactionResponse,
)
from paybridge.connectors.paytrace.session import PayTraceSession
from paybridge.connectors.paytrace.vault import VaultOperations
from paybridge.errors import DataError

_T = "/v1/transactions"
_EXPORT_MEMOS = 8  # kinds of export remembered at once
SALE_KEYED = Endpoint("sale_keyed", f"{_T}/sale/keyed", "money")
SALE_BY_CUSTOMER = Endpoint("sale_by_customer", f"{_T}/sale/by_customer", "money")
SALE_BY_TRANSACTION = Endpoint("sale_by_transaction", f"{_T}/sale/by_transaction", "money")
SALE_PT_PROTECT = Endpoint("sale_pt_protect", f"{_T}/sale/pt_protect", "money")
SALE_PT_PROTECT_CUSTOMER = Endpoint(
    "sale_pt_protect_customer", f"{_T}/sale/pt_protect_customer", "money"
)
AUTH_KEYED = Endpoint("authorize_keyed", f"{_T}/authorization/keyed", "money")
AUTH_BY_CUSTOMER = Endpoint("authorize_by_customer", f"{_T}/authorization/by_customer", "money")
AUTH_BY_TRANSACTION = Endpoint(
    "authorize_by_transaction", f"{_T}/authorization/by_transaction", "money"
)
AUTH_PT_PROTECT = Endpoint("authorize_pt_protect", f"{_T}/authorization/pt_protect", "money")
CAPTURE = Endpoint("capture", f"{_T}/authorization/capture", "money")
VOID = Endpoint("void", f"{_T}/void", "money")
REFUND_FOR_TRANSACTION = Endpoint("refund_for_transaction", f"{_T}/refund/for_transaction", "money")
REFUND_KEYED = Endpoint("refund_keyed", f"{_T}/refund/keyed", "money")
REFUND_TO_CUSTOMER = Endpoint("refund_to_customer", f"{_T}/refund/to_customer", "money")
ADJUST = Endpoint("adjust", f"{_T}/adjust", "money")
SETTLE = Endpoint("settle", f"{_T}/settle", "write")
EMAIL_RECEIPT = Endpoint("email_receipt", f"{_T}/email_receipt", "write")
LEVEL_THREE_VISA = Endpoint("level_three_visa", "/v1/level_three/visa", "write")
LEVEL_THREE_MASTERCARD = Endpoint("level_three_mastercard", "/v1/level_three/mastercard", "write")
EXPORT_BY_ID = Endpoint("export_by_id", f"{_T}/export/by_id", "read")
EXPORT_BY_DATE_RANGE = Endpoint("export_by_date_range", f"{_T}/export/by_date_range", "read")
BATCHES_EXPORT = Endpoint("batches_export", "/v1/batches/export", "read")
BATCH_EXPORT_ONE = Endpoint("batch_export_one", "/v1/batches/export_one", "read")
BATCH_TRANSACTIONS = Endpoint("batch_transaction_list", "/v1/batches/transaction_list", "read")


class PayTraceClient(VaultOperations, CheckOperations):
    """Async client of the PayTrace v1 JSON API.

    Approved results come back as response models; everything else raises from
    ``paybridge.errors``. A money-moving call is never repeated by the client: a timeout, reset
    or 5xx raises ``InDoubtError(reference=invoice_id or description)``, to be resolved with
    ``find_transactions(reference, since)``.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        username: str,
        password: str,
        integrator_id: str,
        base_url: str = "https://api.paytrace.com",
        clock: Clock | None = None,
        timeout: float = 90.0,
        retries: int = 2,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        merchant_tz: str = MERCHANT_TZ,
        token_margin: timedelta = timedelta(minutes=5),
        max_retry_wait: float = 30.0,
        search_with_text: bool = True,
        check_export_path: str = CHECK_EXPORT_PATH,
    ) -> None:
        self._session = PayTraceSession(
            http,
            username=username,
            password=password,
            integrator_id=integrator_id,
            base_url=base_url,
            clock=clock,
            timeout=timeout,
            retries=retries,
            sleep=sleep,
            token_margin=token_margin,
            max_retry_wait=max_retry_wait,
        )
        self.merchant_tz = merchant_tz
        self._zone = ZoneInfo(merchant_tz)
        self._search_with_text = search_with_text
        # The last export of each kind (its filters), so that records that come back unchanged
        # are not validated again: a poller reads the whole day on every poll.
        self._export_memos: dict[tuple[Any, ...], ExportMemo] = {}
        self.check_export_path = check_export_path

    @property
    def clock(self) -> Clock:
        return self._session.clock

    # Sales and authorizations: money moves, so a lost reply is InDoubtError, never a resend.
    async def sale_keyed(self, request: KeyedSaleRequest) -> TransactionResponse:
        return await self._money(SALE_KEYED, request, request.reference)

    async def sale_by_customer(self, request: CustomerSaleRequest) -> TransactionResponse:
        return await self._money(SALE_BY_CUSTOMER, request, request.reference)

    async def sale_by_transaction(self, request: TransactionSaleRequest) -> TransactionResponse:
        return await self._money(SALE_BY_TRANSACTION, request, request.reference)

    async def sale_pt_protect(self, request: ProtectSaleRequest) -> TransactionResponse:
        return await self._money(SALE_PT_PROTECT, request, request.reference)

    async def sale_pt_protect_customer(
        self, request: ProtectCustomerSaleRequest
    ) -> TransactionResponse:
        """A Protect sale that also stores the card under ``customer_id`` when approved."""
        return await self._money(SALE_PT_PROTECT_CUSTOMER, request, request.reference)

    async def authorize_keyed(self, request: KeyedSaleRequest) -> TransactionResponse:
        return await self._money(AUTH_KEYED, request, request.reference)

    async def authorize_by_customer(self, request: CustomerSaleRequest) -> TransactionResponse:
        return await self._money(AUTH_BY_CUSTOMER, request, request.reference)

    async def authorize_by_transaction(
        self, request: TransactionSaleRequest
    ) -> TransactionResponse:
        return await self._money(AUTH_BY_TRANSACTION, request, request.reference)

    async def authorize_pt_protect(self, request: ProtectSaleRequest) -> TransactionResponse:
        return await self._money(AUTH_PT_PROTECT, request, request.reference)

    # Follow-ups of an earlier transaction: in doubt, look the transaction up by its id.
    async def capture(self, request: CaptureRequest) -> TransactionResponse:
        return await self._money(CAPTURE, request, str(request.transaction_id))

    async def void(self, request: VoidRequest) -> TransactionResponse:
        return await self._money(VOID, request, str(request.transaction_id))

    async def adjust(self, request: AdjustRequest) -> TransactionResponse:
        return await self._money(ADJUST, request, str(request.transaction_id))

    async def refund_for_transaction(
        self, request: TransactionRefundRequest
    ) -> TransactionResponse:
        return await self._money(REFUND_FOR_TRANSACTION, request, request.reference)

    async def refund_keyed(self, request: KeyedRefundRequest) -> TransactionResponse:
        return await self._money(REFUND_KEYED, request, request.reference)

    async def refund_to_customer(self, request: CustomerRefundRequest) -> TransactionResponse:
        return await self._money(REFUND_TO_CUSTOMER, request, request.reference)

    async def log_in(self) -> None:
        """Log in now if the token is missing or near its end (a charge's send time is taken
        after this, so a slow login never eats into the grace of its look-up)."""
        await self._session.log_in()

    async def settle(self) -> PayTraceResponse:
        """Close the open batch now (sandbox testing of refunds)."""
        return await self._session.call(SETTLE, None, PayTraceResponse)

    async def email_receipt(self, request: EmailReceiptRequest) -> PayTraceResponse:
        ref = str(request.transaction_id)
        return await self._session.call(EMAIL_RECEIPT, request, PayTraceResponse, ref)

    async def level_three_visa(self, request: LevelThreeRequest) -> PayTraceResponse:
        ref = str(request.transaction_id)
        return await self._session.call(LEVEL_THREE_VISA, request, PayTraceResponse, ref)

    async def level_three_mastercard(self, request: LevelThreeRequest) -> PayTraceResponse:
        ref = str(request.transaction_id)
        return await self._session.call(LEVEL_THREE_MASTERCARD, request, PayTraceResponse, ref)

    # Reads: repeated on 429/5xx/transport failures within the retry budget.
    async def export_by_id(self, transaction_id: int) -> TransactionRecord | None:
        """The transaction's export record, or None when PayTrace does not know the id."""
        try:
            reply = await self._session.call(
                EXPORT_BY_ID, ExportByIdRequest(transaction_id=transaction_id), ExportResponse
            )
        except DataError as exc:
            if set(exc.fields) == {"811"}:
                return None
            raise
        return reply.transactions[0] if reply.transactions else None

    async def export_by_date_range(
        self, request: ExportByDateRangeRequest
    ) -> list[TransactionRecord]:
        shape = (request.transaction_id, request.transaction_type, request.customer_id,
                 request.include_bin, request.including_text)  # fmt: skip
        memo = self._export_memos.setdefault(shape, {})
        if len(self._export_memos) > _EXPORT_MEMOS:  # in-doubt look-ups each bring a text
            self._export_memos = {shape: memo}
        reply = await self._session.call(
            EXPORT_BY_DATE_RANGE, request, ExportResponse, context={"records": memo}
        )
        return reply.transactions

    async def find_transactions(self, reference: str, since: datetime) -> list[TransactionRecord]:
        """Transactions whose invoice_id or description is exactly ``reference``, since ``since``.

        The range starts a day early and ends an hour ahead so that clock skew between PayBridge
        and PayTrace cannot hide the very charge an in-doubt write is looking for.
        """
        if not reference:
            raise ValueError("find_transactions needs a non-empty reference")
        end = self.local_date(self.clock.now() + timedelta(hours=1))
        start = min(self.local_date(since) - timedelta(days=1), end)
        request = ExportByDateRangeRequest(
            start_date=start,
            end_date=end,
            including_text=reference if self._search_with_text else None,
        )
        records = await self.export_by_date_range(request)
        return [r for r in records if reference in (r.invoice_id, r.description)]

    async def export_batches(self, start_date: date, end_date: date) -> list[BatchRecord]:
        request = BatchesExportRequest(start_date=start_date, end_date=end_date)
        return (await self._session.call(BATCHES_EXPORT, request, BatchesExportResponse)).batches

    async def export_batch(self, batch_number: int | None = None) -> BatchRecord | None:
        """One batch by number, or the latest one."""
        request = BatchExportOneRequest(batch_number=batch_number)
        return (await self._session.call(BATCH_EXPORT_ONE, request, BatchExportOneResponse)).batch

    async def batch_transactions(self, batch_number: int) -> list[TransactionRecord]:
        request = BatchTransactionListRequest(batch_number=batch_number)
        return (await self._session.call(BATCH_TRANSACTIONS, request, ExportResponse)).transactions

    def local_date(self, moment: datetime) -> date:
        """The merchant's calendar day at ``moment`` (what PayTrace's date filters mean)."""
        return moment.astimezone(self._zone).date()

    async def _money(
        self, endpoint: Endpoint, request: PayTraceRequest, reference: str
    ) -> TransactionResponse:
        return await self._session.call(endpoint, request, TransactionResponse, reference)
