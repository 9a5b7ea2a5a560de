"""Exposed servers: REST, MCP, skill catalogs and the control port."""

from __future__ import annotations

from naftiko_runtime.spec._dsl import (
    ADDRESS,
    FILE_URI,
    KEBAB,
    MIME_TYPE,
    NAME,
    STATUS_CODE,
    Schema,
    array,
    boolean,
    either,
    exclusive,
    has,
    integer,
    is_,
    map_of,
    number,
    obj,
    one_of_fields,
    outputs,
    ref,
    string,
    tagged,
    titled,
    when,
)
from naftiko_runtime.spec._fields import (
    ADDRESS_FIELD,
    CALL,
    DESCRIPTION,
    INPUT_SCHEMA,
    INPUT_TYPES,
    LABEL,
    LANGUAGES,
    MAPPINGS,
    MAX_BINARY_SIZE,
    METHOD,
    PORT,
    REF,
    STEP_OUTPUT,
    STEPS,
    TAGS,
    WITH,
    output_modes,
)

DEFS: dict[str, Schema] = {}

DEFS["Exposes"] = tagged("type", {"rest": "ExposesRest", "mcp": "ExposesMcp", "skill": "ExposesSkill",
                                  "control": "ExposesControl"}, legacy={"api": "ExposesRest"},
                         what="Kind of server: rest, mcp, skill or control.",
                         description="A server adapter; `type` selects which (0.4's `api` is now `rest`).")

DEFS["ExposesRest"] = obj({
    "type": string("A REST API.", const="rest"),
    "address": ADDRESS_FIELD,
    "port": PORT,
    "namespace": string("Unique name of this API.", pattern=KEBAB),
    "description": string("What this API is for (the exported OpenAPI document's description)."),
    "authentication": ref("ServerAuthentication", "Protects every route of this API."),
    "resources": array(ref("ExposedResource"), "Routes of this API.", min_items=1),
    "maxBinarySize": MAX_BINARY_SIZE,
}, required=("type", "port", "namespace"), description="Serves routes that call the consumed APIs.")

DEFS["ExposedResource"] = obj({
    "path": string("Route path; `{name}` or `{{name}}` captures a segment, `{path}` the rest of the path."),
    "name": string("Identifier of this resource.", pattern=KEBAB),
    "label": LABEL,
    "tags": TAGS,
    "description": DESCRIPTION,
    "inputParameters": array(ref("ExposedInputParameter"), "Inputs shared by this resource's operations."),
    "operations": array(ref("ExposedOperation"), "Methods served on this path."),
    "forward": ref("ForwardConfig"),
}, required=("path",), rules=(one_of_fields("operations", "forward"),), description="One route.")

DEFS["ExposedOperation"] = obj({
    "method": METHOD,
    "name": string("Identifier of this operation.", pattern=KEBAB),
    "label": LABEL,
    "tags": TAGS,
    "description": DESCRIPTION,
    "inputParameters": array(ref("ExposedInputParameter"), "Inputs read from the request."),
    "ref": REF,
    "call": CALL,
    "with": WITH,
    "steps": STEPS,
    "mappings": MAPPINGS,
    "outputParameters": array({}, "Shape of the response: mapped from the upstream response (`call`), "
                              "filled by `mappings` (`steps`)."),
    "responses": map_of(ref("RestResponse"), "Ikanos: the responses by status code; a binary content "
                        "entry sets the media type binary results are served with.", keys=STATUS_CODE),
    "responseBinary": obj({
        "status": integer("Status code of the success response.", minimum=100, maximum=599, default=200),
        "mediaType": string("Media type of the bytes.", pattern=MIME_TYPE),
    }, required=("mediaType",), description="Ikanos: shorthand for one binary success response."),
}, required=("method",), rules=(
    when(has("steps"), outputs(STEP_OUTPUT), outputs(ref("MappedOutputParameter"))),
    exclusive("responses", "responseBinary", why="`responseBinary` is the short form of `responses`"),
), description="One HTTP method on a route: `call` one operation, run `steps`, or `ref` a function.")

DEFS["RestResponse"] = obj({
    "content": map_of(obj({
        "binary": boolean("The body is raw bytes.", default=False),
        "schema": {"type": "object", "description": "JSON Schema of the body (documentation)."},
    }, description="One media type of the response."), "The response's media types.", keys=MIME_TYPE),
}, description="Ikanos: one response of a REST operation.")

DEFS["ExposedInputParameter"] = obj({
    "name": string("Parameter name.", pattern=NAME),
    "in": string("Where to read it from the request.", enum=("query", "header", "path", "cookie", "body")),
    "type": string("Expected type.", enum=INPUT_TYPES),
    "description": DESCRIPTION,
    "pattern": string("Regular expression a string value must match."),
    "value": string("Fixed value, or a JSONPath ($...) into the JSON request body."),
    "schema": INPUT_SCHEMA,
}, required=("name", "in", "type", "description"), description="An input of a REST operation.")

DEFS["ForwardConfig"] = obj({
    "targetNamespace": string("Consumed API to forward requests to.", pattern=KEBAB),
    "trustedHeaders": array(string(), "Incoming headers passed on; all others are dropped.", min_items=1),
}, required=("targetNamespace",), description="Proxies requests on this path to a consumed API.")

DEFS["ExposesMcp"] = obj({
    "type": string("An MCP server.", const="mcp"),
    "transport": string("`http` (Streamable HTTP at /mcp) or `stdio`.", enum=("http", "stdio"),
                        default="http"),
    "address": ADDRESS_FIELD,
    "port": PORT,
    "namespace": string("Unique name of this server; `tools.x`-style `with` values use it.", pattern=KEBAB),
    "description": string("Sent to clients as the server's instructions."),
    "authentication": ref("ServerAuthentication", "Protects every tool, resource and prompt."),
    "stateless": boolean("naftiko-runtime extension: serve Streamable HTTP without sessions.",
                         default=False),
    "tools": array(ref("McpTool"), "Tools offered to agents.", min_items=1),
    "resources": array(ref("McpResource"), "Readable data offered to agents.", min_items=1),
    "prompts": array(ref("McpPrompt"), "Prompt templates offered to agents.", min_items=1),
    "maxBinarySize": MAX_BINARY_SIZE,
    "ttlMs": integer("Ikanos (MCP 2026-07-28): a freshness hint for clients. Accepted, not sent.", minimum=0),
    "cacheScope": string("Ikanos (MCP 2026-07-28): whether shared caches may keep results. Accepted, not sent.",
                         enum=("public", "private")),
}, required=("type", "namespace", "tools"), rules=(
    when(is_("transport", "stdio"), exclusive("port", why="a stdio server listens on no port"),
         has("port")),
), description="Serves tools, resources and prompts over the Model Context Protocol.")

DEFS["McpTool"] = obj({
    "name": string("Tool name shown to agents.", pattern=KEBAB),
    "label": string("Display title."),
    "tags": TAGS,
    "description": string("What the tool does; agents choose tools by it."),
    "inputParameters": array(ref("McpToolInputParameter"), "Arguments; they form the tool's input schema. "
                             "When omitted, they are inferred from `with` and the consumed parameters."),
    "ref": REF,
    "call": CALL,
    "with": WITH,
    "steps": STEPS,
    "mappings": MAPPINGS,
    "hints": ref("McpToolHints"),
    "outputParameters": array({}, "Shape of the result: mapped (`call`), filled by `mappings` (`steps`), "
                              "or fixed values (neither: mock mode)."),
}, rules=(one_of_fields("call", "steps", "ref", "outputParameters"),
          output_modes(), when({"not": has("ref")}, has("name", "description"))),
   description="A tool: `call` one operation, run `steps`, `ref` a function, or return fixed values.")

DEFS["McpToolHints"] = obj({
    "readOnly": boolean("The tool changes nothing."),
    "destructive": boolean("The tool may delete or overwrite data."),
    "idempotent": boolean("Repeating the call has no further effect."),
    "openWorld": boolean("The tool talks to systems outside this capability."),
}, description="Behaviour hints, sent as MCP tool annotations.")

DEFS["McpToolInputParameter"] = obj({
    "name": string("Argument name.", pattern=NAME),
    "type": string("Expected type.", enum=INPUT_TYPES),
    "description": string("What the argument means; shown to agents."),
    "required": boolean("Whether the argument must be given.", default=True),
    "schema": INPUT_SCHEMA,
}, required=("name", "type", "description"), description="An argument of a tool or function.")

DEFS["McpResource"] = obj({
    "name": string("Resource name.", pattern=NAME),
    "label": string("Display title."),
    "uri": string("Resource URI (any scheme); `{param}` makes it a template."),
    "description": DESCRIPTION,
    "mimeType": string("Media type of the content.", pattern=MIME_TYPE),
    "binary": boolean("The content is bytes, read as a base64 blob (Ikanos).", default=False),
    "call": CALL,
    "with": WITH,
    "steps": STEPS,
    "mappings": MAPPINGS,
    "outputParameters": array({}, "Shape of the content."),
    "location": string("Static content: a file:/// directory whose files are served.", pattern=FILE_URI,
                       uri=True),
}, required=("name", "label", "uri", "description"), rules=(
    one_of_fields("call", "steps", "location"),
    exclusive("call", "steps", why="a resource is read by `call` or by `steps`, not both"),
    exclusive("call", "location", why="a resource is either dynamic (`call`) or static (`location`)"),
    exclusive("steps", "location", why="a resource is either dynamic (`steps`) or static (`location`)"),
    when(has("steps"), outputs(STEP_OUTPUT), when(has("call"), outputs(ref("MappedOutputParameter")))),
), description="Data agents can read: fetched (`call`/`steps`) or files (`location`).")

DEFS["McpPrompt"] = obj({
    "name": string("Prompt name.", pattern=NAME),
    "label": string("Display title."),
    "description": DESCRIPTION,
    "arguments": array(ref("McpPromptArgument"), "Arguments substituted for `{{name}}`.", min_items=1),
    "template": array(ref("McpPromptMessage"), "The messages of the prompt.", min_items=1),
    "location": string("A file:/// file holding the prompt text (one user message).", pattern=FILE_URI,
                       uri=True),
}, required=("name", "label", "description"), rules=(
    one_of_fields("template", "location"),
    exclusive("template", "location", why="give the messages inline (`template`) or in a file (`location`)"),
), description="A reusable prompt template.")

DEFS["McpPromptArgument"] = obj({
    "name": string("Argument name, used as `{{name}}`.", pattern=NAME),
    "label": string("Display title."),
    "description": DESCRIPTION,
    "required": boolean("Whether the argument must be given.", default=True),
}, required=("name", "description"), description="A prompt argument (always a string).")

DEFS["McpPromptMessage"] = obj({
    "role": string("Who speaks.", enum=("user", "assistant")),
    "content": string("Message text with `{{argument}}` placeholders."),
}, required=("role", "content"), description="One message of a prompt template.")

DEFS["ExposesSkill"] = obj({
    "type": string("A skill catalog.", const="skill"),
    "address": ADDRESS_FIELD,
    "port": PORT,
    "namespace": string("Unique name of this catalog.", pattern=KEBAB),
    "description": DESCRIPTION,
    "authentication": ref("ServerAuthentication", "Protects the catalog."),
    "skills": array(ref("ExposedSkill"), "The skills listed.", min_items=1),
}, required=("type", "port", "namespace", "skills"),
   description="Publishes Agent Skills that describe tools of sibling adapters. Runs nothing itself.")

DEFS["ExposedSkill"] = obj({
    "name": string("Skill identifier.", pattern=KEBAB, max_length=64),
    "description": string("What the skill does and when to use it.", max_length=1024),
    "license": string("License name, e.g. Apache-2.0."),
    "compatibility": string("Requirements and compatibility notes.", max_length=500),
    "metadata": map_of(string(), "Free key/value metadata."),
    "allowed-tools": string("Space-separated tools the skill may use without asking.", max_length=1024),
    "argument-hint": string("Hint shown when the skill is invoked as a command."),
    "user-invocable": boolean("Users may invoke it as a command.", default=True),
    "disable-model-invocation": boolean("Never load it automatically.", default=False),
    "location": string("A file:/// directory holding SKILL.md and the instruction files.", pattern=FILE_URI,
                       uri=True),
    "tools": array(ref("SkillTool"), "Tools of this skill.", min_items=1),
}, required=("name", "description"), description="One skill (Agent Skills front matter).")

DEFS["SkillTool"] = obj({
    "name": string("Tool identifier.", pattern=KEBAB),
    "description": string("What the tool does."),
    "from": obj({
        "sourceNamespace": string("Namespace of the sibling REST or MCP adapter."),
        "action": string("Operation or tool name in that adapter."),
    }, required=("sourceNamespace", "action"), description="The adapter operation this tool stands for."),
    "instruction": string("Instruction file, relative to the skill's `location`."),
}, required=("name", "description"), rules=(
    one_of_fields("from", "instruction"),
    exclusive("from", "instruction", why="a skill tool comes `from` an adapter or is an `instruction`"),
), description="A tool of a skill.")

DEFS["ExposesControl"] = obj({
    "type": string("The management port.", const="control"),
    "address": string("Interface to listen on; keep the default unless protected.", pattern=ADDRESS,
                      default="localhost"),
    "port": PORT,
    "authentication": ref("ServerAuthentication", "Protects the control port."),
    "management": ref("ControlManagementSpec"),
    "observability": ref("ObservabilitySpec"),
}, required=("type", "port"), description="Health, status, logs and metrics endpoints.")

DEFS["ControlManagementSpec"] = obj({
    "health": boolean("Serve /health/live and /health/ready.", default=True),
    "info": boolean("Serve /status and /config.", default=False),
    "reload": boolean("Serve POST /config/reload.", default=False),
    "validate": boolean("Serve POST /config/validate.", default=False),
    "logs": either(boolean(), ref("ControlLogsEndpointSpec"),
                   description="Log endpoints: true/false, or detailed settings."),
    "scripting": ref("ScriptingManagementSpec"),
}, description="Which management endpoints are on.")

DEFS["ControlLogsEndpointSpec"] = obj({
    "level-control": boolean("Allow changing log levels.", default=True),
    "stream": boolean("Stream logs over SSE at /logs/stream.", default=False),
    "max-subscribers": integer("Most concurrent log streams.", minimum=1, maximum=20, default=5),
}, description="Log endpoint settings.")

DEFS["ScriptingManagementSpec"] = obj({
    "enabled": boolean("Allow script steps to run.", default=True),
    "defaultLocation": string("Scripts directory for steps without `location`.", pattern=FILE_URI, uri=True),
    "defaultLanguage": string("Language for steps without `language`.", enum=LANGUAGES),
    "timeout": integer("Milliseconds a script may run.", minimum=1, default=60000),
    "statementLimit": integer("Most statements a script may execute.", minimum=1, default=100000),
    "allowedLanguages": array(string(enum=LANGUAGES), "Languages allowed (all when omitted)."),
}, description="Defaults and limits for script steps.")

DEFS["ObservabilitySpec"] = obj({
    "enabled": boolean("Collect traces and metrics.", default=True),
    "metrics": obj({"local": ref("ObservabilityLocalEndpointSpec", "The /metrics endpoint.")},
                   description="Metrics settings."),
    "traces": obj({
        "sampling": number("Share of requests traced, 0 to 1.", minimum=0, maximum=1, default=1.0),
        "propagation": string("Trace context header format.", enum=("w3c", "b3"), default="w3c"),
        "local": obj({
            "enabled": boolean("Serve /traces.", default=True),
            "buffer-size": integer("Recent traces kept.", minimum=10, maximum=10000, default=100),
        }, description="The /traces endpoint."),
    }, description="Tracing settings."),
    "exporters": obj({
        "otlp": obj({"endpoint": string("OTLP endpoint URL (templates allowed).")},
                    required=("endpoint",), description="OpenTelemetry exporter."),
    }, description="Where telemetry is sent."),
}, description="Tracing and metrics.")
DEFS["ObservabilityLocalEndpointSpec"] = obj({"enabled": boolean("Serve the endpoint.", default=True)})

DEFS = titled(DEFS, {
    "Exposes": "exposed adapter",
    "ExposesRest": "REST adapter",
    "ExposedResource": "REST resource",
    "ExposedOperation": "REST operation",
    "RestResponse": "REST response",
    "ExposedInputParameter": "REST input parameter",
    "ForwardConfig": "forward",
    "ExposesMcp": "MCP adapter",
    "McpTool": "MCP tool",
    "McpToolHints": "tool hints",
    "McpToolInputParameter": "input parameter",
    "McpResource": "MCP resource",
    "McpPrompt": "MCP prompt",
    "McpPromptArgument": "prompt argument",
    "McpPromptMessage": "prompt message",
    "ExposesSkill": "skill adapter",
    "ExposedSkill": "skill",
    "SkillTool": "skill tool",
    "ExposesControl": "control adapter",
    "ControlManagementSpec": "management settings",
    "ControlLogsEndpointSpec": "log settings",
    "ScriptingManagementSpec": "scripting settings",
    "ObservabilitySpec": "observability settings",
    "ObservabilityLocalEndpointSpec": "endpoint settings",
})
