"""Aggregate functions and orchestration: steps, mappings and `with` values."""

from __future__ import annotations

from naftiko_runtime.spec._dsl import (
    FILE_URI,
    KEBAB,
    NAME,
    TARGET_NAME,
    Schema,
    array,
    boolean,
    map_of,
    obj,
    one_of_fields,
    ref,
    string,
    tagged,
    titled,
)
from naftiko_runtime.spec._fields import CALL, LANGUAGES, MAPPINGS, MEDIA_TYPE, STEPS, TAGS, WITH, output_modes

DEFS: dict[str, Schema] = {}

DEFS["Aggregate"] = obj({
    "label": string("Display name (Ikanos: `display`)."),
    "namespace": string("First part of `ref: namespace.function`.", pattern=KEBAB),
    "functions": array(ref("AggregateFunction"), "The functions (Ikanos: `flows`).", min_items=1),
}, required=("label", "namespace", "functions"), description="A group of reusable domain functions.")

DEFS["AggregateFunction"] = obj({
    "name": string("Second part of `ref: namespace.function`.", pattern=KEBAB),
    "description": string("What the function does."),
    "tags": TAGS,
    "semantics": ref("Semantics"),
    "outputMediaType": MEDIA_TYPE,
    "inputParameters": array(ref("McpToolInputParameter"), "Arguments of the function."),
    "call": CALL,
    "with": WITH,
    "steps": STEPS,
    "mappings": MAPPINGS,
    "outputParameters": array({}, "Shape of the result: mapped (`call`), filled by `mappings` (`steps`), "
                              "or fixed values (mock mode)."),
}, required=("name", "description"), rules=(
    one_of_fields("call", "steps", "outputParameters"),
    output_modes(),
), description="A function that tools and REST operations reuse through `ref`.")

DEFS["Semantics"] = obj({
    "safe": boolean("Changes nothing (tools get readOnly hints)."),
    "idempotent": boolean("Repeating it has no further effect."),
    "cacheable": boolean("Results may be cached."),
}, description="How the function behaves, independent of transport.")

# --- steps, mappings, with ----------------------------------------------------------------------

DEFS["OperationStep"] = tagged("type", {"call": "OperationStepCall", "lookup": "OperationStepLookup",
                                        "script": "OperationStepScript"}, required=("name",),
                               what="Kind of step: call, lookup or script.",
                               description="One orchestration step; `type` selects call, lookup or script.")
_STEP_ID = string("Step name; later steps and mappings read its output as `$.name`.", pattern=KEBAB)
DEFS["OperationStepCall"] = obj({
    "type": string("Call a consumed operation.", const="call"),
    "name": _STEP_ID,
    "call": CALL,
    "with": WITH,
}, required=("call",), description="Calls a consumed operation.")
DEFS["OperationStepLookup"] = obj({
    "type": string("Find entries in an earlier step's list.", const="lookup"),
    "name": _STEP_ID,
    "index": string("Name of the earlier step whose output is searched.", pattern=KEBAB),
    # Ours: upstream field names are often snake_case, so any identifier (the schema said kebab-case).
    "match": string("Field of each entry compared with `lookupValue`.", pattern=NAME),
    "lookupValue": string("Value(s) to find: `$.step.field` or a template."),
    "outputParameters": array(string(), "Fields kept from each matching entry.", min_items=1),
}, required=("index", "match", "lookupValue", "outputParameters"), description="Looks entries up by a field.")
DEFS["OperationStepScript"] = obj({
    "type": string("Run a script.", const="script"),
    "name": _STEP_ID,
    "language": string("Script language.", enum=LANGUAGES),
    "location": string("file:/// directory holding the scripts.", pattern=FILE_URI, uri=True),
    "file": string("Main script, relative to `location`; it must set `result`.", min_length=1),
    "dependencies": array(string(min_length=1), "Scripts run first, relative to `location`.", min_items=1),
    "with": WITH,
}, required=("file",), description="Runs a sandboxed script over the steps' outputs.")

DEFS["StepOutputMapping"] = obj({
    "targetName": string("Output field to fill; dots nest (route.from). Ikanos: `target`.", pattern=TARGET_NAME),
    "value": string("Where to read: `$.step-name.field.field`, or (naftiko-runtime extension) `$.input` for "
                    "one of the operation's own inputs when no step has that name."),
}, required=("targetName", "value"), description="Copies one step output into the result.")

DEFS["WithInjector"] = map_of(
    {"type": ["string", "number", "boolean"],
     "description": "A literal, a `{{template}}`, or `namespace.argument` to pass a caller argument "
                    "(booleans are a naftiko-runtime extension)."},
    "Values passed to the called operation, by parameter name.")

DEFS = titled(DEFS, {
    "Aggregate": "aggregate",
    "AggregateFunction": "aggregate function",
    "Semantics": "semantics",
    "OperationStep": "step",
    "OperationStepCall": "call step",
    "OperationStepLookup": "lookup step",
    "OperationStepScript": "script step",
    "StepOutputMapping": "mapping",
    "WithInjector": "`with`",
})
