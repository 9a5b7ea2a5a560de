"""Consumed HTTP APIs: adapters, resources, operations, parameters and request bodies."""

from __future__ import annotations

from naftiko_runtime.spec._dsl import (
    BASE_URI,
    KEBAB,
    NAME,
    Schema,
    array,
    boolean,
    either,
    has,
    integer,
    map_of,
    number,
    obj,
    ref,
    string,
    tagged,
    titled,
    when,
)
from naftiko_runtime.spec._fields import DESCRIPTION, INPUT_TYPES, LABEL, METHOD, OUTPUT_TYPES

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
    "baseUri": string("Root URL of the API, e.g. https://api.example.com/v1 (no trailing slash, no "
                      "placeholders). `--upstream NAMESPACE=URL` replaces it.", pattern=BASE_URI),
    "authentication": ref("ConsumerAuthentication", "Credentials sent with every request to this API."),
    "inputParameters": array(ref("ConsumedInputParameter"), "Parameters sent with every operation "
                             "(typically fixed headers)."),
    "resources": array(ref("ConsumedHttpResource"), "Paths of the API and their operations.", min_items=1),
    "timeout": obj({
        "connect": number("Seconds to wait for a connection.", above=0),
        "read": number("Seconds to wait for response data.", above=0),
        "total": number("Seconds one request may take in all.", above=0),
    }, description="naftiko-runtime extension: time limits for calls to this API, in seconds."),
    "retry": obj({
        "attempts": integer("Total tries, the first one included.", minimum=1, maximum=10),
        "backoff": number("Seconds to wait before the first retry; later waits grow.", minimum=0),
        "statuses": array(integer(minimum=100, maximum=599), "HTTP statuses that cause a retry."),
    }, description="naftiko-runtime extension: how failed calls to this API are retried."),
}, required=("type", "namespace", "baseUri"), description="An upstream HTTP API.")

DEFS["ConsumedHttpResource"] = obj({
    "name": string("Identifier of this resource.", pattern=KEBAB),
    "label": LABEL,
    "description": DESCRIPTION,
    "path": string("Path appended to `baseUri`; placeholders `{{name}}` or `{name}` take parameter values."),
    "inputParameters": array(ref("ConsumedInputParameter"), "Parameters shared by this resource's operations."),
    "operations": array(ref("ConsumedHttpOperation"), "HTTP methods available on this path.", min_items=1),
}, required=("name", "path", "operations"), description="One path of the upstream API.")

DEFS["ConsumedHttpOperation"] = obj({
    "name": string("Identifier used in `call: namespace.name`.", pattern=KEBAB),
    "label": LABEL,
    "description": DESCRIPTION,
    "method": METHOD,
    "inputParameters": array(ref("ConsumedInputParameter"), "Parameters of this operation."),
    "outputRawFormat": string("Format of the response body; it is converted to JSON before mapping.",
                              enum=("json", "xml", "avro", "protobuf", "csv", "tsv", "psv", "yaml", "html",
                                    "markdown"), default="json"),
    "outputSchema": string("Schema file (avro, protobuf), CSS selector (html) or heading prefix (markdown)."),
    "outputParameters": array(ref("ConsumedOutputParameter"), "Named values extracted from the response "
                              "(used by orchestration steps)."),
    "body": ref("RequestBody"),
}, required=("name", "method"), description="One HTTP call to the upstream API.")

DEFS["ConsumedInputParameter"] = obj({
    "name": string("Parameter name (header, query key, path placeholder...).", pattern=NAME),
    "in": string("Where the value goes in the request.",
                 enum=("query", "header", "path", "cookie", "body", "environment")),
    "value": string("Fixed value or `{{template}}`; without it the argument of the same name is used."),
    "type": string("naftiko-runtime extension: expected type, used to infer tool input schemas.",
                   enum=INPUT_TYPES),
    "required": boolean("naftiko-runtime extension: whether a value must be supplied."),
    "description": string("naftiko-runtime extension: what the parameter means."),
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
