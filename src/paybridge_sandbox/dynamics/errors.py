"""The F&O error envelope and the exceptions the sandbox raises to produce it.

Shape (ASP.NET Web API OData, as captured from real F&O)::

    {"error": {"code": "", "message": "An error has occurred.",
               "innererror": {"message": "...", "type": "...", "stacktrace": "..."}}}
"""

from __future__ import annotations

from typing import Any

WRITE_EXCEPTION = "Microsoft.Dynamics.Platform.Integration.Services.OData.AxODataWriteException"
ODATA_EXCEPTION = "Microsoft.OData.ODataException"
_SAVE_STACK = (
    "   at Microsoft.Dynamics.Platform.Integration.Services.OData.Update.UpdateProcessor."
    "{op}(ChangeOperationContext context, ChangeInfo changeInfo)\r\n"
    "   at Microsoft.Dynamics.Platform.Integration.Services.OData.Update.ChangeInfo."
    "ExecuteActionsInCompanyContext(IEnumerable`1 actionList, ChangeOperationContext "
    "operationContext)\r\n"
    "   at Microsoft.Dynamics.Platform.Integration.Services.OData.Update.ChangeInfo."
    "TrySave(ChangeOperationContext operationContext)\r\n"
    "   at Microsoft.Dynamics.Platform.Integration.Services.OData.Update.UpdateManager."
    "SaveChanges()"
)


class ODataError(Exception):
    """An error answered with the F&O envelope; ``status`` is the single-request HTTP status."""

    def __init__(
        self,
        status: int,
        inner_message: str,
        *,
        inner_type: str = ODATA_EXCEPTION,
        code: str = "",
        message: str = "An error has occurred.",
        stacktrace: str = "",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(inner_message)
        self.status = status
        self.inner_message = inner_message
        self.inner_type = inner_type
        self.code = code
        self.message = message
        self.stacktrace = stacktrace
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        inner = {
            "message": self.inner_message,
            "type": self.inner_type,
            "stacktrace": self.stacktrace,
        }
        return {"error": {"code": self.code, "message": self.message, "innererror": inner}}


def write_failed(aot_name: str, infolog: list[str], *, operation: str = "create") -> ODataError:
    """A business-logic refusal: ``Write failed for table row of type '<AOT>'. Infolog: ...``.

    ``infolog`` lines are already prefixed (``Warning: ...``/``Error: ...``); F&O joins with ``; ``.
    """
    op = {
        "create": "CreateEntity_Save",
        "update": "UpdateEntity_Save",
        "delete": "DeleteEntity_Save",
    }.get(operation, "CreateEntity_Save")
    verb = "Delete" if operation == "delete" else "Write"
    text = f"{verb} failed for table row of type '{aot_name}'. Infolog: " + "; ".join(infolog)
    return ODataError(400, text, inner_type=WRITE_EXCEPTION, stacktrace=_SAVE_STACK.format(op=op))


def not_found(message: str) -> ODataError:
    return ODataError(404, message)


def bad_request(message: str) -> ODataError:
    return ODataError(400, message)


def no_resource_for_update() -> ODataError:
    # Real F&O text for PATCH/DELETE on a missing key.
    return ODataError(
        404, "No resources were found when selecting for update.", inner_type=WRITE_EXCEPTION
    )
