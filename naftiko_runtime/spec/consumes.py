"""Consumed HTTP APIs: adapters, resources, operations, parameters and request bodies."""

from __future__ import annotations

from naftiko_runtime.spec._dsl import (
    KEBAB,
    NAME,
    PARAM_NAME,
    Schema,
    array,
    boolean,
    either,
    has,
    integer,
    is_,
    map_of,
    obj,
    ref,
    string,
    tagged,
    titled,
    when,
)
from naftiko_runtime.spec._fields import (
    DESCRIPTION,
    INPUT_SCHEMA,
    INPUT_TYPES,
    LABEL,
    MAX_BINARY_SIZE,
    MEDIA_TYPE,
    METHOD,
    OUTPUT_TYPES,
    TAGS,
)

DEFS: dict[str, Schema] = {}

DEFS["ConsumesEntry"] = {
    "description": "An upstream API: declared inline (`type: http`) or imported from a shared file "
                   "(`location` + `import`).",
    "type": "object",
    "allOf": [when({"not": has("type"), "anyOf": [has("import"), has("location")]},
                   ref("ImportedConsumesHttp"), ref("ConsumesHttp"))],
}

DEFS["ImportedConsumesHttp"] = obj({
    "location": string("Path (relative to this file) or file URI of a document with root-level `consumes`."),
    "import": string("Namespace of the adapter to take from that file.", pattern=KEBAB),
    "as": string("Local namespace for the imported adapter (defaults to `import`).", pattern=KEBAB),
    "description": DESCRIPTION,
}, required=("location", "import"), description="Reuses an HTTP adapter declared in another file.")

DEFS["ConsumesHttp"] = obj({
    "type": string("Consumer kind; only `http` exists.", const="http"),
    "namespace": string("Unique name of this upstream; used in `call: namespace.operation`.", pattern=KEBAB),
    "description": string("What the upstream API does; helps agents and readers."),
    "baseUri": string("Root URL of the API, e.g. https://api.example.com/v1 (no trailing slash). A part "
                      "that varies is a bind variable: https://{{API_HOST}}/v1. `--upstream NAMESPACE=URL` "
                      "replaces it."),
    "headers": map_of(string("Header value; templates over bind variables allowed, e.g. `{{API_KEY}}`."),
                      "naftiko-runtime extension: headers sent with every request to this API (credentials "
                      "in them are redacted like any other)."),
    "authentication": ref("ConsumerAuthentication", "Credentials sent with every request to this API."),
    "inputParameters": array(ref("ConsumedInputParameter"), "Parameters sent with every operation "
                             "(typically fixed headers)."),
    "resources": array(ref("ConsumedHttpResource"), "Paths of the API and their operations.", min_items=1),
    "timeout": ref("Timeouts", "naftiko-runtime extension: time limits (the same as `resilience.timeout`)."),
    "retry": ref("RetryPolicy", "naftiko-runtime extension: retries (the same as `resilience.retry`)."),
    "resilience": ref("Resilience", "naftiko-runtime extension: limits, retries, breaker and cache for "
                      "calls to this API."),
    "tunnel": {"type": "object", "description": "Ikanos: reach the API through an OpenZiti tunnel. Not run by "
               "naftiko-runtime (reported when present)."},
}, required=("type", "namespace", "baseUri"), description="An upstream HTTP API.")

DEFS["ConsumedHttpResource"] = obj({
    "name": string("A label for this resource (free text: nothing refers to it)."),
    "label": LABEL,
    "tags": TAGS,
    "description": DESCRIPTION,
    "path": string("Path appended to `baseUri`; placeholders `{{name}}` or `{name}` take parameter values."),
    "inputParameters": array(ref("ConsumedInputParameter"), "Parameters shared by this resource's operations."),
    "operations": array(ref("ConsumedHttpOperation"), "HTTP methods available on this path.", min_items=1),
}, required=("name", "path", "operations"), description="One path of the upstream API.")

DEFS["ConsumedHttpOperation"] = obj({
    "name": string("Identifier used in `call: namespace.name`.", pattern=KEBAB),
    "label": LABEL,
    "tags": TAGS,
    "description": DESCRIPTION,
    "method": METHOD,
    "inputParameters": array(ref("ConsumedInputParameter"), "Parameters of this operation."),
    "outputRawFormat": string("Format of the response body; it is converted to JSON before mapping.",
                              enum=("json", "xml", "avro", "protobuf", "csv", "tsv", "psv", "yaml", "html",
                                    "markdown", "text", "binary"), default="json"),
    "outputMediaType": MEDIA_TYPE,
    "maxBinarySize": MAX_BINARY_SIZE,
    "outputSchema": string("Schema file (avro, protobuf), CSS selector (html) or heading prefix (markdown)."),
    "outputParameters": array(ref("ConsumedOutputParameter"), "Named values extracted from the response "
                              "(used by orchestration steps)."),
    "body": ref("RequestBody"),
    "pagination": ref("Pagination", "naftiko-runtime extension: the runtime fetches this operation's pages."),
    "resilience": ref("Resilience", "naftiko-runtime extension: this operation's own limits, over its "
                      "API's, field by field."),
}, required=("name", "method"), description="One HTTP call to the upstream API.")

DEFS["Pagination"] = obj({
    "type": string("How the API pages: a `cursor` token from the answer, an `offset` or a `page` number "
                   "parameter, or the `Link: <...>; rel=\"next\"` header.",
                   enum=("cursor", "offset", "page", "link")),
    "items": string("JSONPath to each page's items, e.g. $.data (the whole answer when omitted)."),
    "next": string("cursor: JSONPath to the next page's token in the answer, e.g. $.next_cursor."),
    "param": string("The parameter that carries the cursor, offset or page number.", pattern=PARAM_NAME),
    "in": string("Where that parameter goes.", enum=("query", "header", "body"), default="query"),
    "size": integer("Items per page (offset paging advances by it; a shorter page is the last).", minimum=1),
    "sizeParam": string("The parameter that carries the page size.", pattern=PARAM_NAME),
    "start": integer("The first offset or page number (0 for offsets, 1 for pages by default).", minimum=0),
    "maxPages": integer("At most this many pages per call.", minimum=1, maximum=1000, default=10),
    "maxItems": integer("At most this many items per call.", minimum=1, maximum=1000000, default=1000),
    "mode": string("`merge`: every page (within the caps) in one answer; `page`: one page and a "
                   "`continuation` to call again with.", enum=("merge", "page"), default="merge"),
}, required=("type",), rules=(when(is_("type", "cursor"), has("next", "param")),),
   description="naftiko-runtime extension: the runtime fetches the pages of this operation.")

DEFS["ConsumedInputParameter"] = obj({
    "name": string("Parameter name (header, query key, path placeholder...).", pattern=PARAM_NAME),
    "in": string("Where the value goes in the request (`formData`: a multipart form field, as Swagger 2 "
                 "files write it).", enum=("query", "header", "path", "cookie", "body", "environment", "formData")),
    "value": string("Fixed value or `{{template}}`; without it the argument of the same name is used."),
    "type": either(string(enum=(*INPUT_TYPES, "file")), array(string(enum=(*INPUT_TYPES, "null")), min_items=1),
                   description="naftiko-runtime extension: expected type, used to infer tool input schemas "
                   "(a JSON Schema style list such as [array, \"null\"] means its first non-null type)."),
    "required": boolean("naftiko-runtime extension: whether a value must be supplied."),
    "description": string("naftiko-runtime extension: what the parameter means."),
    "schema": INPUT_SCHEMA,
}, required=("name", "in"), description="A value sent to the upstream API.")

DEFS["ConsumedOutputParameter"] = obj({
    "name": string("Name of the extracted value.", pattern=NAME),
    "type": string("Type of the extracted value.", enum=OUTPUT_TYPES),
    "value": string("JSONPath into the response body, e.g. $.data.id."),
}, required=("name", "type", "value"), description="A named value taken from the upstream response.")

DEFS["RequestBody"] = either(
    string("Raw body template, often a YAML block of JSON with `{{placeholders}}`."),
    ref("StructuredRequestBody"),
    description="Request body: a raw template string or a typed body.",
)
DEFS["StructuredRequestBody"] = tagged("type", {
    "json": "RequestBodyJson", "text": "RequestBodyText", "xml": "RequestBodyText",
    "sparql": "RequestBodyText", "formUrlEncoded": "RequestBodyFormUrlEncoded",
    "multipartForm": "RequestBodyMultipartForm",
}, what="Content type of the body.", required=("data",),
   description="A typed request body; `type` selects the content type.")
DEFS["RequestBodyJson"] = obj({
    "type": string("Sent as application/json.", const="json"),
    "data": either(string(), {"type": "object"}, {"type": "array"},
                   description="The JSON payload, or a template string producing it."),
}, description="JSON body.")
DEFS["RequestBodyText"] = obj({
    "type": string("text/plain, application/xml or application/sparql-query.", enum=("text", "xml", "sparql")),
    "data": string("The body text (templates allowed)."),
}, description="Text, XML or SPARQL body.")
DEFS["RequestBodyFormUrlEncoded"] = obj({
    "type": string("Sent as application/x-www-form-urlencoded.", const="formUrlEncoded"),
    "data": either(string(), map_of(string()), description="Pre-encoded text, or fields by name."),
}, description="URL-encoded form body.")
DEFS["RequestBodyMultipartForm"] = obj({
    "type": string("Sent as multipart/form-data.", const="multipartForm"),
    "data": array(ref("RequestBodyMultipartFormPart"), "The parts, in order."),
}, description="Multipart form body.")
DEFS["RequestBodyMultipartFormPart"] = obj({
    "name": string("Form field name."),
    "value": string("Content of the part."),
    "filename": string("File name; makes this part a file upload."),
    "contentType": string("Media type of the part."),
}, required=("name", "value"), description="One part of a multipart body.")

DEFS = titled(DEFS, {
    "ConsumesEntry": "consumed API",
    "ImportedConsumesHttp": "consumes import",
    "ConsumesHttp": "consumed HTTP API",
    "ConsumedHttpResource": "consumed resource",
    "ConsumedHttpOperation": "consumed operation",
    "Pagination": "pagination",
    "ConsumedInputParameter": "consumed input parameter",
    "ConsumedOutputParameter": "consumed output parameter",
    "RequestBody": "request body",
    "StructuredRequestBody": "request body",
    "RequestBodyJson": "JSON body",
    "RequestBodyText": "text body",
    "RequestBodyFormUrlEncoded": "form body",
    "RequestBodyMultipartForm": "multipart body",
    "RequestBodyMultipartFormPart": "multipart part",
})
