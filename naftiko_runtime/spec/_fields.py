"""Field schemas that several parts of the document share (labels, calls, steps, ports...)."""

from __future__ import annotations

from naftiko_runtime.spec._dsl import (
    ADDRESS,
    BINARY_SIZE,
    CALL_REF,
    MIME_TYPE,
    Schema,
    array,
    has,
    integer,
    outputs,
    ref,
    string,
    when,
)

CALL = string("The consumed operation to invoke, as `consumes-namespace.operation-name`.", pattern=CALL_REF)
REF = string("An aggregate function to delegate to, as `aggregate-namespace.function-name`. Its name, "
             "description, inputs and hints are inherited unless given here.", pattern=CALL_REF)
WITH = ref("WithInjector")
STEPS = array(ref("OperationStep"), "Orchestration: steps run in order; each step's output is available "
              "to later steps and to `mappings` under the step's name.", min_items=1)
MAPPINGS = array(ref("StepOutputMapping"), "Orchestration: copies step outputs into the result.")
PORT = integer("TCP port to listen on.", minimum=1, maximum=65535)
ADDRESS_FIELD = string("Interface to listen on (host name or IP). Use 0.0.0.0 inside containers.",
                       pattern=ADDRESS)
LABEL = string("Human-readable display name (Ikanos: `display`).")
TAGS = array(string(), "Keywords for search and filtering (Ikanos `tags`; listed, not acted on).")
MEDIA_TYPE = string("Media type of the result, e.g. image/png: binary results are returned with it (over MCP "
                    "as image, audio or blob content), and it overrides the upstream's Content-Type (Ikanos "
                    "`outputMediaType`).", pattern=MIME_TYPE)
MAX_BINARY_SIZE = string("Largest binary response accepted, e.g. 10MiB (Ikanos `maxBinarySize`; the "
                         "consumer's `maxResponseBytes` applies too, whichever is smaller).", pattern=BINARY_SIZE)
DESCRIPTION = string("What this is for. Agents read it to decide when to use it.")
OUTPUT_TYPES = ("string", "number", "boolean", "object", "array")
INPUT_TYPES = ("string", "number", "integer", "boolean", "array", "object")
METHOD = string("HTTP method.", enum=("GET", "POST", "PUT", "PATCH", "DELETE"), default="GET")
LANGUAGES = ("javascript", "python", "groovy")
INPUT_SCHEMA: Schema = {
    "type": "object",
    "description": "naftiko-runtime extension: JSON Schema (2020-12) keywords added to this value's schema, "
                   "e.g. the `properties` and `required` fields of an object, `enum`, `minimum`, `items`. "
                   "Clients see them in the input schema and arguments are checked against them before any "
                   "upstream call.",
}
OUTPUT_SCHEMA: Schema = {
    "type": "object",
    "description": "naftiko-runtime extension: the JSON Schema (2020-12) of the object this output returns, "
                   "advertised as the MCP tool's `outputSchema` and in the exported OpenAPI. Results are "
                   "checked against it, so describe only what the upstream always returns.",
}


# With steps, a named output documents a field filled by `mappings`; an unnamed one is mapped
# from the last response (alpha2 accepts both).
STEP_OUTPUT = when(has("name"), ref("OrchestratedOutputParameter"), ref("MappedOutputParameter"))


def output_modes() -> Schema:
    """MCP tools and aggregate functions: the mode (steps, call, ref, else mock) sets the output shape."""
    simple = outputs(ref("MappedOutputParameter"))
    mocked = outputs(ref("MockOutputParameter"), min_items=1)
    return when(has("steps"), outputs(STEP_OUTPUT), when(has("call"), simple, when(has("ref"), simple, mocked)))

