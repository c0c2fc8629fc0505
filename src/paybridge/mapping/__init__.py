"""Declarative mapping: YAML templates compiled once (JMESPath + pure functions), applied per record."""

from paybridge.mapping.check import CheckProblem, check_template, check_templates
from paybridge.mapping.enrich import KNOWN_ENRICH_KINDS, CachingEnricher, Enricher
from paybridge.mapping.errors import MappingValueError, TemplateError, TemplateProblem
from paybridge.mapping.functions import FunctionRegistry, FunctionSpec, default_registry
from paybridge.mapping.loader import (
    SHIPPED_DIR,
    TemplateSet,
    compile_text,
    load_overlay,
    load_template,
    load_templates,
    origin,
)
from paybridge.mapping.preview import FieldDiff, dry_run_diff, format_diff, preview, render_json
from paybridge.mapping.schema import EntitySchema, FieldSchema, schema_from_entity_json
from paybridge.mapping.template import (
    ENRICHER_KEY,
    CompiledTemplate,
    FieldExplanation,
    FieldRule,
    MappingResult,
)

__all__ = [
    "ENRICHER_KEY",
    "KNOWN_ENRICH_KINDS",
    "SHIPPED_DIR",
    "CachingEnricher",
    "CheckProblem",
    "CompiledTemplate",
    "Enricher",
    "EntitySchema",
    "FieldDiff",
    "FieldExplanation",
    "FieldRule",
    "FieldSchema",
    "FunctionRegistry",
    "FunctionSpec",
    "MappingResult",
    "MappingValueError",
    "TemplateError",
    "TemplateProblem",
    "TemplateSet",
    "check_template",
    "check_templates",
    "compile_text",
    "default_registry",
    "dry_run_diff",
    "format_diff",
    "load_overlay",
    "load_template",
    "load_templates",
    "origin",
    "preview",
    "render_json",
    "schema_from_entity_json",
]
