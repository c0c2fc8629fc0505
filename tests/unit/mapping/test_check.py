"""`mapping check`: templates against D365 metadata (real CSDL, entity JSON and small CSDLs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from paybridge.app.schema import metadata_schemas
from paybridge.mapping import (
    EntitySchema,
    check_template,
    check_templates,
    compile_text,
    load_templates,
    schema_from_entity_json,
)
from paybridge.mapping.template import CompiledTemplate
from tests.conftest import conformance_dir

DATA = Path(__file__).parent / "data"

SMALL_CSDL = """\
<?xml version="1.0" encoding="utf-8"?>
<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">
  <edmx:DataServices>
    <Schema Namespace="Microsoft.Dynamics.DataEntities" xmlns="http://docs.oasis-open.org/odata/ns/edm">
      <EnumType Name="NoYes"><Member Name="No" Value="0"/><Member Name="Yes" Value="1"/></EnumType>
      <EntityType Name="Widget">
        <Key><PropertyRef Name="dataAreaId"/><PropertyRef Name="WidgetId"/></Key>
        <Property Name="dataAreaId" Type="Edm.String" Nullable="false"/>
        <Property Name="WidgetId" Type="Edm.String" Nullable="false"/>
        <Property Name="Price" Type="Edm.Decimal" Nullable="false"/>
        <Property Name="Count" Type="Edm.Int32" Nullable="false"/>
        <Property Name="MadeOn" Type="Edm.DateTimeOffset" Nullable="false"/>
        <Property Name="IsActive" Type="Microsoft.Dynamics.DataEntities.NoYes"/>
        <Property Name="GroupId" Type="Edm.String">
          <Annotation Term="Microsoft.Dynamics.OData.Core.V1.IsRequired" Bool="true"/>
        </Property>
        <Property Name="RecordId" Type="Edm.Int64" Nullable="false">
          <Annotation Term="Microsoft.Dynamics.OData.Core.V1.AllowEdit" Bool="false"/>
          <Annotation Term="Microsoft.Dynamics.OData.Core.V1.AllowEditOnCreate" Bool="false"/>
        </Property>
        <Property Name="Secret" Type="Edm.String">
          <Annotation Term="Microsoft.Dynamics.OData.Core.V1.AllowEditOnCreate" Bool="false"/>
        </Property>
      </EntityType>
      <EntityContainer Name="Resources">
        <EntitySet Name="Widgets" EntityType="Microsoft.Dynamics.DataEntities.Widget"/>
      </EntityContainer>
    </Schema>
  </edmx:DataServices>
</edmx:Edmx>
"""


def widget_template(fields: str, operation: str = "create") -> CompiledTemplate:
    text = (
        "name: widget\nversion: 1\nsource: canonical.Transaction\ntarget: d365.Widgets\n"
        f"operation: {operation}\nfields:\n{fields}"
    )
    template, problems = compile_text(text, "widget.yaml")
    assert template is not None, problems
    return template


@pytest.fixture(scope="module")
def widgets() -> dict[str, EntitySchema]:
    return metadata_schemas(SMALL_CSDL)


@pytest.fixture(scope="module")
def entities() -> dict[str, EntitySchema]:
    enums = json.loads((DATA / "_enums.json").read_text())
    docs = [json.loads((DATA / f"{name}.json").read_text()) for name in
            ("CustomerPaymentJournalLines", "LedgerJournalLines", "SalesOrderHeadersV2")]  # fmt: skip
    return schema_from_entity_json(docs, enums)


def test_small_csdl_is_parsed(widgets: dict[str, EntitySchema]) -> None:
    widget = widgets["Widgets"]
    assert widget.keys == ("dataAreaId", "WidgetId")
    assert widget.fields["GroupId"].required
    assert widget.fields["RecordId"].read_only
    assert widget.fields["Secret"].read_only_on_create
    assert not widget.fields["Secret"].read_only
    assert widget.fields["IsActive"].enum_members == ("No", "Yes")
    assert widget.fields["WidgetId"].is_key
    assert not widget.fields["Price"].nullable


def test_real_customer_v3_metadata_is_parsed() -> None:
    path = conformance_dir("dynamics") / "metadata" / "real_trimmed_metadata_CustomerV3.xml"
    schema = metadata_schemas(path.read_bytes())
    customers = schema["CustomersV3"]
    assert customers.entity_type == "Microsoft.Dynamics.DataEntities.CustomerV3"
    assert customers.keys == ("dataAreaId", "CustomerAccount")
    assert len(customers.fields) == 305
    assert {f.name for f in customers.fields.values() if f.required} == {
        "CustomerGroupId",
        "SalesCurrencyCode",
    }
    assert customers.fields["PaymentBankAccount"].read_only
    assert customers.fields["OnHoldStatus"].enum_members is not None
    assert "Never" in customers.fields["OnHoldStatus"].enum_members
    assert (
        metadata_schemas(path.read_text(encoding="utf-8-sig"))["CustomersV3"].keys == customers.keys
    )


def test_shipped_customer_template_passes_against_real_metadata() -> None:
    path = conformance_dir("dynamics") / "metadata" / "real_trimmed_metadata_CustomerV3.xml"
    schema = metadata_schemas(path.read_bytes())
    template = load_templates().get("paytrace_customer_to_d365_customer")
    assert check_template(template, schema) == []


def test_shipped_d365_templates_pass_against_entity_metadata(
    entities: dict[str, EntitySchema],
) -> None:
    shipped = load_templates()
    names = ["payment_to_customer_payment_line", "settlement_to_general_journal_line",
             "authorization_to_sales_order_status"]  # fmt: skip
    assert check_templates([shipped.get(n) for n in names], entities) == []
    paytrace_bound = shipped.get("invoice_to_paytrace_sale")
    assert check_template(paytrace_bound, entities) == []  # nothing in D365 to check against


def test_a_custom_field_the_target_lacks_fails_with_a_clear_message(
    entities: dict[str, EntitySchema],
) -> None:
    # The README's custom-field example: the payment status into an extension field.
    base = (Path(load_templates().get("authorization_to_sales_order_status").file)).read_text()
    text = base.replace("version: 1", "version: 2") + (
        "  PayTracePaymentStatus: lookup('paytrace_status_to_d365_payment_status', status)\n"
    )
    template, problems = compile_text(text, "authorization_v2.yaml")
    assert template is not None, problems
    found = check_template(template, entities)
    assert [p.code for p in found] == ["unknown-field"]
    message = str(found[0])
    assert message.startswith("authorization_v2.yaml:")
    assert "authorization_to_sales_order_status@2: PayTracePaymentStatus:" in message
    assert "SalesOrderHeadersV2 has no field 'PayTracePaymentStatus' in $metadata" in message
    assert "add it to the D365 entity (an extension) or remove it from the template" in message
    assert found[0].line == text.count("\n")


def test_a_misspelt_standard_field_gets_a_suggestion(entities: dict[str, EntitySchema]) -> None:
    text = (
        "name: t\nversion: 1\nsource: canonical.Transaction\ntarget: d365.CustomerPaymentJournalLines\n"
        "fields:\n  dataAreaId: ctx('company')\n  PaymentRefrence: transaction_id\n"
    )
    template, _ = compile_text(text, "t.yaml")
    assert template is not None
    (problem,) = check_template(template, entities)
    assert "(did you mean 'PaymentReference'?)" in problem.message
    assert problem.line == 7


def test_read_only_fields(widgets: dict[str, EntitySchema]) -> None:
    create = widget_template("  GroupId: \"'G'\"\n  RecordId: '`5`'\n  Secret: \"'s'\"\n")
    codes = {(p.field, p.code) for p in check_template(create, widgets)}
    assert codes == {("RecordId", "read-only"), ("Secret", "read-only")}
    update = widget_template(
        "  dataAreaId: \"'usmf'\"\n  WidgetId: \"'W1'\"\n  Secret: \"'s'\"\n", operation="update"
    )
    assert check_template(update, widgets) == []  # AllowEditOnCreate=false only binds creates


def test_missing_required_and_missing_keys(widgets: dict[str, EntitySchema]) -> None:
    create = widget_template("  Price: round_money(amount.amount, 'USD')\n")
    (problem,) = check_template(create, widgets)
    assert (problem.field, problem.code) == ("GroupId", "missing-required")
    assert "requires it on create (IsRequired)" in problem.message
    update = widget_template("  Price: round_money(amount.amount, 'USD')\n", operation="update")
    assert {p.field for p in check_template(update, widgets)} == {"dataAreaId", "WidgetId"}


def test_enum_values_must_exist(widgets: dict[str, EntitySchema]) -> None:
    template = widget_template(
        "  GroupId: \"'G'\"\n  IsActive: if(status == 'approved', 'Yes', 'Maybe')\n"
    )
    (problem,) = check_template(template, widgets)
    assert problem.code == "unknown-enum-value"
    assert "'Maybe' is not a member of enum NoYes (members: No, Yes)" in problem.message
    table = widget_template(
        "  GroupId: \"'G'\"\n  IsActive:\n    expr: lookup('payment_journal_side', kind)\n"
    )
    assert {p.code for p in check_template(table, widgets)} == {"unknown-enum-value"}
    default = widget_template("  GroupId: \"'G'\"\n  IsActive:\n    expr: a\n    default: 'Nope'\n")
    assert "'Nope'" in check_template(default, widgets)[0].message


def test_wrong_types(widgets: dict[str, EntitySchema]) -> None:
    template = widget_template(
        "  GroupId: \"'G'\"\n"
        "  Price: d365_date(occurred_at)\n"
        "  Count: round_money(amount.amount, 'USD')\n"
        "  MadeOn: round_money(amount.amount, 'USD')\n"
        "  WidgetId:\n    expr: a\n    type: boolean\n"
        "  IsActive: is_negative(amount.amount)\n"
    )
    found = {p.field: p.message for p in check_template(template, widgets)}
    assert found["Price"] == "Widgets.Price is Edm.Decimal but the expression produces date"
    assert "Edm.Int32 but the expression produces decimal" in found["Count"]
    assert "Edm.DateTimeOffset" in found["MadeOn"]
    assert "produces boolean" in found["WidgetId"]
    assert "IsActive" in found
    fine = widget_template(
        "  GroupId: concat('G', `1`)\n  Count: length(a)\n  MadeOn: d365_datetime(a)\n"
    )
    assert check_template(fine, widgets) == []


def test_unknown_entity_set(widgets: dict[str, EntitySchema]) -> None:
    text = (
        "name: t\nversion: 1\nsource: canonical.Transaction\ntarget: d365.Widget\nfields:\n  A: a\n"
    )
    template, _ = compile_text(text, "t.yaml")
    assert template is not None
    (problem,) = check_template(template, widgets)
    assert problem.code == "unknown-entity-set"
    assert "(did you mean 'Widgets'?)" in problem.message


def test_mapping_parses_no_xml_and_a_bad_document_is_a_data_error() -> None:
    # One CSDL parser (the Dynamics connector's): mapping is handed schemas, never XML.
    import ast

    import paybridge.mapping
    from paybridge.errors import DataError

    folder = Path(paybridge.mapping.__file__).parent
    for source in folder.glob("*.py"):
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n.split(".")[0] == "xml" for n in names), source.name
    with pytest.raises(DataError, match="not a D365 \\$metadata document"):
        metadata_schemas(b"<not-xml")
    with pytest.raises(DataError, match="no entity container"):
        metadata_schemas(SMALL_CSDL.replace("EntityContainer", "Nothing"))
