"""The Dynamics 365 F&O OData connector: client, auth, query builder, $batch, limiter, metadata."""

from paybridge.connectors.dynamics.auth import (
    AdfsTokenProvider,
    MsalTokenProvider,
    StaticTokenProvider,
    TokenProvider,
)
from paybridge.connectors.dynamics.batch import (
    MAX_OPERATIONS,
    BatchOperation,
    ChangesetResult,
    OperationResult,
)
from paybridge.connectors.dynamics.client import DynamicsClient, Page
from paybridge.connectors.dynamics.entities import (
    ENTITY_TYPES,
    CustomerPaymentJournalHeader,
    CustomerPaymentJournalLine,
    CustomerV3,
    CustTransaction,
    FoEntity,
    LedgerJournalHeader,
    LedgerJournalLine,
    SalesInvoiceHeaderV2,
    SalesOrderHeaderV2,
)
from paybridge.connectors.dynamics.error_map import (
    ConcurrencyConflictError,
    NotFoundError,
    RecordExistsError,
    map_error,
)
from paybridge.connectors.dynamics.limiter import RequestLimiter
from paybridge.connectors.dynamics.literals import (
    EnumValue,
    escape_display_value,
    key_path,
    parse_edm_date,
    parse_edm_datetime,
    render_key,
    render_literal,
    unescape_display_value,
)
from paybridge.connectors.dynamics.metadata import (
    EdmEntitySet,
    EdmEntityType,
    EdmEnumType,
    EdmModel,
    EdmNavigation,
    EdmProperty,
    parse_metadata,
)
from paybridge.connectors.dynamics.principals import (
    Limits,
    Principal,
    PrincipalPool,
    ServiceBudget,
)
from paybridge.connectors.dynamics.query import Expand, Expr, F, Query, Raw
from paybridge.connectors.dynamics.transport import RedirectTransport

__all__ = [
    "ENTITY_TYPES",
    "MAX_OPERATIONS",
    "AdfsTokenProvider",
    "BatchOperation",
    "ChangesetResult",
    "ConcurrencyConflictError",
    "CustTransaction",
    "CustomerPaymentJournalHeader",
    "CustomerPaymentJournalLine",
    "CustomerV3",
    "DynamicsClient",
    "EdmEntitySet",
    "EdmEntityType",
    "EdmEnumType",
    "EdmModel",
    "EdmNavigation",
    "EdmProperty",
    "EnumValue",
    "Expand",
    "Expr",
    "F",
    "FoEntity",
    "LedgerJournalHeader",
    "LedgerJournalLine",
    "Limits",
    "MsalTokenProvider",
    "NotFoundError",
    "OperationResult",
    "Page",
    "Principal",
    "PrincipalPool",
    "Query",
    "Raw",
    "RecordExistsError",
    "RedirectTransport",
    "RequestLimiter",
    "SalesInvoiceHeaderV2",
    "SalesOrderHeaderV2",
    "ServiceBudget",
    "StaticTokenProvider",
    "TokenProvider",
    "escape_display_value",
    "key_path",
    "map_error",
    "parse_edm_date",
    "parse_edm_datetime",
    "parse_metadata",
    "render_key",
    "render_literal",
    "unescape_display_value",
]
