"""The document's top level: metadata, variable sources and the capability itself."""

from __future__ import annotations

from naftiko_runtime.spec._dsl import (
    DATE,
    EMAIL,
    KEBAB,
    NAME,
    SCHEME_URI,
    VARIABLE,
    Schema,
    array,
    map_of,
    obj,
    one_of_fields,
    ref,
    string,
    tagged,
    titled,
)
from naftiko_runtime.spec._fields import DESCRIPTION

DEFS: dict[str, Schema] = {}

DEFS["Info"] = obj({
    "label": string("Display name of the capability."),
    "description": string("What the capability offers. The richer, the easier agents discover it."),
    "tags": array(string(), "Keywords for search and filtering."),
    "created": string("Creation date (YYYY-MM-DD).", pattern=DATE),
    "modified": string("Date of the last change (YYYY-MM-DD).", pattern=DATE),
    "stakeholders": array(ref("Person"), "People responsible for the capability."),
}, required=("label", "description"), description="Human-readable metadata about the capability.")

DEFS["Person"] = obj({
    "role": string("Relation to the capability, e.g. owner or editor."),
    "fullName": string("The person's name."),
    "email": string("Contact address.", pattern=EMAIL),
}, required=("role", "fullName"), description="Someone responsible for the capability.")

DEFS["Binding"] = obj({
    "namespace": string("Name of this binding; qualifies its variables as `{{namespace.VAR}}`.",
                        pattern=KEBAB),
    "description": DESCRIPTION,
    "location": string("Where the values come from (e.g. file:///./secrets.yaml). Without it, each key "
                       "names an environment variable.", pattern=SCHEME_URI),
    "keys": map_of(string("Key to read in the source (or environment variable name).", pattern=NAME),
                   "Variables to define: VARIABLE_NAME -> key in the source. Use them as `{{VARIABLE_NAME}}`.",
                   keys=VARIABLE),
}, required=("namespace", "keys"), description="Variables (often secrets) injected from a file, "
   "the environment or another provider.")

DEFS["ExternalRef"] = tagged("resolution", {"file": "ExternalRefFile", "runtime": "ExternalRefRuntime"},
                             what="`file` (read `uri` when loading) or `runtime` (environment).",
                             description="0.5 only (replaced by `binds` in 1.0.0-alpha1): variables "
                                         "read from a file or from the runtime environment.")
_EXTERNAL_KEYS = map_of(string(pattern=NAME), "Variables to define: name -> key in the source.", keys=NAME)
DEFS["ExternalRefFile"] = obj({
    "name": string("Identifier of this reference.", pattern=KEBAB),
    "description": DESCRIPTION,
    "type": string("Always `environment` for file references.", const="environment"),
    "resolution": string("Read the variables from the file at `uri` when loading.", const="file"),
    "uri": string("The file to read."),
    "keys": _EXTERNAL_KEYS,
}, required=("name", "type", "uri", "keys"), description="0.5: variables read from a file.")
DEFS["ExternalRefRuntime"] = obj({
    "name": string("Identifier of this reference.", pattern=KEBAB),
    "description": DESCRIPTION,
    "type": string("Always `variables` for runtime references.", const="variables"),
    "resolution": string("Read the variables from the environment at run time.", const="runtime"),
    "keys": _EXTERNAL_KEYS,
}, required=("name", "type", "keys"), description="0.5: variables read from the environment.")

DEFS["Capability"] = obj({
    "binds": array(ref("Binding"), "Variable sources for this capability.", min_items=1),
    "exposes": array(ref("Exposes"), "Servers this capability runs: MCP, REST, skill catalog, control port.",
                     min_items=1),
    "consumes": array(ref("ConsumesEntry"), "Upstream HTTP APIs this capability calls.", min_items=1),
    "aggregates": array(ref("Aggregate"), "Reusable domain functions that tools and operations can `ref`.",
                        min_items=1),
}, rules=(one_of_fields("exposes", "consumes"),), description="What the capability consumes and exposes.")

DEFS = titled(DEFS, {
    "Info": "info",
    "Person": "stakeholder",
    "Binding": "binding",
    "ExternalRef": "external reference",
    "ExternalRefFile": "file external reference",
    "ExternalRefRuntime": "runtime external reference",
    "Capability": "capability",
})
