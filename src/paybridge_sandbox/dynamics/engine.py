"""The sandbox's write engine: F&O's create/update/delete call order over the generic store.

create: initValue (defaults) -> set supplied properties -> defaultRow (rules) -> required and
relation checks (validateWrite) -> unique key -> insert. update: the same on a copy of the stored
row, then a new random RecVersion (so the ETag changes). delete: validateDelete -> delete.
Every refusal is a ``Write failed for table row of type '<AOT>'. Infolog: ...`` error.
"""

from __future__ import annotations

from random import Random
from typing import Any

from paybridge_sandbox.dynamics.errors import ODataError, bad_request, not_found, write_failed
from paybridge_sandbox.dynamics.rules import RuleContext, rules_for
from paybridge_sandbox.dynamics.schema import EntityDef, Schema
from paybridge_sandbox.dynamics.settings import DynamicsSandboxSettings, SandboxClock
from paybridge_sandbox.dynamics.store import Key, Row, Store
from paybridge_sandbox.dynamics.values import ValueError_, coerce, default_value, etag, fold

MAX_REC_VERSION = 2**31 - 1


class Engine:
    """Entity CRUD with F&O semantics; one instance per sandbox (``app.state.sandbox.engine``)."""

    def __init__(
        self,
        schema: Schema,
        store: Store,
        settings: DynamicsSandboxSettings,
        clock: SandboxClock,
        rng: Random,
        sequence_formats: dict[str, str],
    ) -> None:
        self.schema = schema
        self.store = store
        self.settings = settings
        self.clock = clock
        self.rng = rng
        self.sequence_formats = sequence_formats

    def context(self) -> RuleContext:
        return RuleContext(
            self.store, self.clock.now(), self.settings, self.rng, self.sequence_formats
        )

    def entity(self, entity_set: str) -> EntityDef:
        entity = self.schema.sets.get(entity_set)
        if entity is None:
            raise not_found(f"Resource not found for the segment '{entity_set}'.")
        return entity

    # ---- create --------------------------------------------------------------------------

    def create(self, entity: EntityDef, body: Any, company: str) -> Row:
        supplied = self._coerce_body(entity, body)
        values = {f.name: default_value(entity, f, self.schema) for f in entity.fields}
        for name, value in supplied.items():
            if name not in entity.server_fields:
                values[name] = value
        if entity.company_specific:
            values["dataAreaId"] = str(values["dataAreaId"] or company).lower()
        with self.store.transaction():
            row = self._validated_insert(entity, values)
        return row

    def _validated_insert(self, entity: EntityDef, values: dict[str, Any]) -> Row:
        self._refuse_read_only(entity)
        rules = rules_for(entity.entity_set)
        ctx = self.context()
        messages = rules.defaults(ctx, values, None)
        messages += self._missing_required(entity, values, rules.labels)
        messages = messages or rules.validate(ctx, values, None)
        if messages:
            raise write_failed(entity.aot_name, messages)
        table = self.store.table(entity.entity_set)
        key = table.key_of(values)
        if table.get(key) is not None:
            raise write_failed(entity.aot_name, [self._duplicate(entity, values)])
        rec_id = self.store.new_rec_id()
        if "SysRecId" in values:
            values["SysRecId"] = rec_id
        row = Row(values, rec_id, 1)
        self.store.put(entity.entity_set, key, row)
        rules.after_write(ctx, values, None)
        return row

    def _duplicate(self, entity: EntityDef, values: dict[str, Any]) -> str:
        shown = ", ".join(str(values[k]) for k in entity.keys if k != "dataAreaId")
        return (
            f"Info: Cannot create a record in {entity.entity_type} ({entity.aot_name}). "
            f"{shown}.\nThe record already exists."
        )

    def _missing_required(
        self, entity: EntityDef, values: dict[str, Any], labels: dict[str, str]
    ) -> list[str]:
        return [
            f"Warning: Field '{labels.get(name, entity.by_name[name].label)}' must be filled in."
            for name in sorted(entity.required)
            if values.get(name) in ("", None)
        ]

    def _refuse_read_only(self, entity: EntityDef) -> None:
        if entity.read_only:
            raise write_failed(
                entity.aot_name,
                [
                    f"Error: Entity {entity.entity_type} is read-"
                    "only; it cannot be created, updated or deleted "
                    "through OData."
                ],
            )

    # ---- update / delete -----------------------------------------------------------------

    def update(self, entity: EntityDef, key: Key, body: Any, if_match: str | None) -> Row:
        supplied = self._coerce_body(entity, body)
        with self.store.transaction():
            old = self._for_update(entity, key, if_match)
            values = dict(old.values)
            for name, value in supplied.items():
                if name in entity.keys and fold(value) != fold(old.values[name]):
                    raise write_failed(
                        entity.aot_name,
                        [f"Error: The key field '{name}' cannot be changed."],
                        operation="update",
                    )
                if name not in entity.server_fields:
                    values[name] = value
            return self._validated_update(entity, key, old, values)

    def _validated_update(
        self, entity: EntityDef, key: Key, old: Row, values: dict[str, Any]
    ) -> Row:
        rules = rules_for(entity.entity_set)
        ctx = self.context()
        messages = rules.defaults(ctx, values, old)
        messages += self._missing_required(entity, values, rules.labels)
        messages = messages or rules.validate(ctx, values, old)
        if messages:
            raise write_failed(entity.aot_name, messages, operation="update")
        row = Row(values, old.rec_id, self.rng.randint(2, MAX_REC_VERSION))
        self.store.put(entity.entity_set, key, row)
        rules.after_write(ctx, values, old)
        return row

    def delete(self, entity: EntityDef, key: Key, if_match: str | None) -> None:
        with self.store.transaction():
            row = self._for_update(entity, key, if_match)
            rules = rules_for(entity.entity_set)
            ctx = self.context()
            messages = rules.validate_delete(ctx, row)
            if messages:
                raise write_failed(entity.aot_name, messages, operation="delete")
            self.store.remove(entity.entity_set, key)
            rules.after_write(ctx, None, row)

    def _for_update(self, entity: EntityDef, key: Key, if_match: str | None) -> Row:
        self._refuse_read_only(entity)
        row = self.store.table(entity.entity_set).get(key)
        if row is None:
            raise ODataError(404, "No resources were found when selecting for update.")
        self._check_if_match(entity, row, if_match)
        return row

    def _check_if_match(self, entity: EntityDef, row: Row, if_match: str | None) -> None:
        mode = self.settings.if_match
        if mode == "ignore":
            return
        if if_match is None:
            if mode == "require":
                raise ODataError(428, "The request must be conditional; send If-Match.")
            return
        current = etag(row.rec_version, row.rec_id, entity.etag_sources)
        sent = [t.strip() for t in if_match.split(",")]
        if "*" not in sent and current not in sent:
            raise ODataError(
                412,
                "The ETag value in the request header does not match with "
                "the current ETag value of the object.",
            )

    # ---- body ----------------------------------------------------------------------------

    def _coerce_body(self, entity: EntityDef, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise bad_request(
                "The request body must be a JSON object with the entity's properties."
            )
        out: dict[str, Any] = {}
        for name, raw in body.items():
            if "@" in name:
                self._check_annotation(entity, name, raw)
                continue
            fdef = entity.by_name.get(name)
            if fdef is None:
                raise bad_request(
                    f"The property '{name}' does not exist on type "
                    f"'{entity.qualified_type}'. Make sure to only use property "
                    "names that are defined by the type."
                )
            try:
                out[name] = coerce(fdef, raw, self.schema)
            except ValueError_ as exc:
                raise bad_request(exc.message) from None
        return out

    def _check_annotation(self, entity: EntityDef, name: str, raw: Any) -> None:
        if name == "@odata.type" and raw not in (
            f"#{entity.qualified_type}",
            entity.qualified_type,
        ):
            raise bad_request(
                f"A type named '{str(raw).lstrip('#')}' could not be resolved by "
                "the model. When a model is available, each type name must resolve"
                " to a valid type."
            )
