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
    has,
    map_of,
    obj,
    one_of_fields,
    ref,
    string,
    tagged,
    titled,
    when,
)
from naftiko_runtime.spec._fields import DESCRIPTION

DEFS: dict[str, Schema] = {}

DEFS["Info"] = obj({
    "label": string("Display name of the capability."),
    "description": string("What the capability offers. The richer, the easier agents discover it."),
    "tags": array(string(), "Keywords for search and filtering."),
    "version": string("Version of the capability itself (Ikanos `info.version`)."),
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

def importable(target: str, what: str) -> Schema:
    """An entry declared here, or (with `import`) taken from another file: naftiko-runtime extension to
    every section, as Ikanos has it (`from` there)."""
    return {"description": f"{what}, or an entry imported from another file (`location` + `import`).",
            "type": "object", "allOf": [when(has("import"), ref("ImportedEntry"), ref(target))]}


DEFS["ImportedEntry"] = obj({
    "location": string("Path (relative to this file) or file URI of the file holding the entry (Ikanos: `from`)."),
    "import": string("Namespace of the entry to take from that file's section of the same name.", pattern=KEBAB),
    "as": string("Local namespace for the imported entry (defaults to `import`).", pattern=KEBAB),
    "description": DESCRIPTION,
}, required=("location", "import"), description="naftiko-runtime extension (Ikanos): reuses an entry of "
   "another file's `binds`, `exposes` or `aggregates`.")

BINDS = array(importable("Binding", "A variable source"), "Variable sources (secrets, settings) for "
              "`{{VARIABLE}}` templates.", min_items=1)
EXPOSES = array(importable("Exposes", "A server"), "Servers this capability runs: MCP, REST, skill catalog, "
                "control port.", min_items=1)
AGGREGATES = array(importable("Aggregate", "An aggregate"), "Reusable domain functions that tools and operations "
                   "can `ref`.", min_items=1)

DEFS["Capability"] = obj({
    "binds": BINDS,
    "exposes": EXPOSES,
    "consumes": array(ref("ConsumesEntry"), "Upstream HTTP APIs this capability calls.", min_items=1),
    "aggregates": AGGREGATES,
}, rules=(one_of_fields("exposes", "consumes"),), description="What the capability consumes and exposes.")

DEFS = titled(DEFS, {
    "Info": "info",
    "Person": "stakeholder",
    "Binding": "binding",
    "ExternalRef": "external reference",
    "ExternalRefFile": "file external reference",
    "ExternalRefRuntime": "runtime external reference",
    "Capability": "capability",
    "ImportedEntry": "import",
})
