"""Building the model: a loaded ``Document`` (and the pointers structure found broken) -> ``Capability``.

The only code that reads a capability's raw data. It never raises: what cannot be read is absent
(structure or rules report it). References are resolved here, once (``call``, ``ref``, ``with``
values, ``forward`` targets, skill actions), templates and JSONPath compiled, and input and output
schemas computed, so nothing downstream walks the spec again.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import MappingProxyType
from typing import Any

from naftiko_runtime.jsonpath import compile_or_none, is_path
from naftiko_runtime.load import Document
from naftiko_runtime.model.capability import Capability
from naftiko_runtime.model.nodes import (
    EMPTY,
    Auth,
    Bind,
    Body,
    ConsumedOutput,
    Consumer,
    Operation,
    Pagination,
    Param,
    Resilience,
    Value,
    freeze,
)
from naftiko_runtime.model.read import Reader
from naftiko_runtime.model.refs import env_variable, placeholders
from naftiko_runtime.model.resilience import consumer_resilience, operation_resilience
from naftiko_runtime.source import join

__all__ = ["build", "value_errors"]

# Structure codes that make the value at their pointer unusable (it is then treated as absent).
VALUE_CODES = frozenset({
    "schema-type", "schema-enum", "schema-const", "schema-pattern", "schema-range", "schema-min-length",
    "schema-max-length",
})


def value_errors(diagnostics: Iterable[Any]) -> frozenset[str]:
    """The pointers whose value structure found unusable (errors only: warnings do not break)."""
    return frozenset(d.location.pointer for d in diagnostics
                     if d.code in VALUE_CODES and str(d.severity) == "error")


def build(doc: Document, broken: frozenset[str] = frozenset()) -> Capability:
    """The model of ``doc``; values at ``broken`` pointers (see ``value_errors``) are left out."""
    from naftiko_runtime.model.exposes import build_exposures, build_functions

    r = Reader(broken)
    data = doc.data if isinstance(doc.data, dict) else {}
    cap = r.mapping(data.get("capability"), "/capability") or {}
    binds = [_bind(r, ptr, spec, doc.path.parent) for ptr, spec in
             [*r.entries(data, "binds", ""), *r.entries(cap, "binds", "/capability")]]
    consumers: dict[str, Consumer] = {}
    consumes = [*r.entries(data, "consumes", ""), *r.entries(cap, "consumes", "/capability")]
    for ptr, spec in consumes:
        consumer = _consumer(r, ptr, spec)
        if consumer is not None:
            consumers.setdefault(consumer.namespace, consumer)
    bind_names = frozenset(n for b in binds if b is not None for v in b.keys for n in (v, f"{b.namespace}.{v}"))
    declared_functions = build_functions(r, cap, consumers, bind_names)
    functions = {f.ref: f for f in reversed(declared_functions)}  # the first of each name wins
    exposures = build_exposures(r, cap, consumers, functions, doc.path.parent, bind_names)
    others = [*r.entries(cap, "exposes", "/capability"), *r.entries(cap, "aggregates", "/capability"),
              *r.entries(data, "binds", ""), *r.entries(cap, "binds", "/capability")]
    info = r.mapping(data.get("info"), "/info") or {}
    capability = Capability(
        file=doc.file, path=doc.path, kind=doc.kind, version=doc.version,
        label=r.text(info, "label", "/info"), description=r.text(info, "description", "/info"),
        binds=tuple(b for b in binds if b is not None), consumers=MappingProxyType(consumers),
        functions=MappingProxyType(dict(reversed(functions.items()))), exposures=exposures,
        unresolved_imports=frozenset(doc.unresolved_imports), namespaces=_namespaces(r, [*consumes, *others]),
        declared_functions=tuple(declared_functions),
        sources=tuple(dict.fromkeys([doc.path, *doc.imports])),
    )
    implicit = _implicit_env(capability)
    if implicit is None:
        return capability
    return Capability(
        file=capability.file, path=capability.path, kind=capability.kind, version=capability.version,
        label=capability.label, description=capability.description, binds=(*capability.binds, implicit),
        consumers=capability.consumers, functions=capability.functions, exposures=capability.exposures,
        unresolved_imports=capability.unresolved_imports, namespaces=capability.namespaces,
        declared_functions=capability.declared_functions, sources=capability.sources,
    )


def _namespaces(r: Reader, entries: list[tuple[str, dict[str, Any]]]) -> tuple[tuple[str, str], ...]:
    """(namespace, pointer of its key) of every consumes, exposes, aggregates and binds entry; an
    import that could not be inlined names its namespace with `as` (or `import`)."""
    found = []
    for ptr, entry in entries:
        key = "namespace" if "namespace" in entry else "as" if "as" in entry else "import"
        name = r.text(entry, key, ptr)
        if name is not None:
            found.append((name, join(ptr, key)))
    return tuple(found)


# ----------------------------------------------------------------------------------------- binds


def _bind(r: Reader, pointer: str, spec: dict[str, Any], base_dir: Path) -> Bind | None:
    namespace = r.text(spec, "namespace", pointer)
    keys, _ = r.child(spec, "keys", pointer)
    if namespace is None:
        return None
    mapping = {str(k): str(v) for k, v in keys.items() if isinstance(k, str) and isinstance(v, str | int)} \
        if isinstance(keys, dict) else {}
    return Bind(namespace, MappingProxyType(mapping), r.text(spec, "location", pointer), base_dir, pointer)


def template_values(capability: Capability) -> Iterator[Value]:
    """Every templated value of the capability that the runtime renders with bind variables."""
    for consumer in capability.consumers.values():
        if consumer.base_uri is not None:
            yield consumer.base_uri
        if consumer.authentication is not None:
            yield from consumer.authentication.fields.values()
        yield from (value for _, value in consumer.headers)
        for op in consumer.operations.values():
            yield from (p.value for p in op.params if p.value is not None)
            if op.body is not None:
                yield op.body.data
    for exposure in capability.exposures:
        if exposure.authentication is not None:
            yield from exposure.authentication.fields.values()
    for unit in capability.invocable():
        invocation = unit.invocation
        assert invocation is not None
        for call in invocation.calls():
            yield from (entry.value for entry in call.with_)
        yield from (entry.value for entry in invocation.with_)
        for output in invocation.outputs:
            yield from (p.value for p in output.walk() if p.value is not None)


def _implicit_env(capability: Capability) -> Bind | None:
    """``{{env.X}}`` that no bind declares reads the environment variable X: one implicit bind."""
    declared = capability.bind_names
    names: dict[str, str] = {}
    for value in template_values(capability):
        for name in value.names:
            variable = env_variable(name)
            if variable is not None and name not in declared:
                names[variable] = variable
    if not names:
        return None
    return Bind("env", MappingProxyType(names), None, capability.path.parent, "", implicit=True)


# ------------------------------------------------------------------------------------- consumers


def _param(r: Reader, pointer: str, spec: dict[str, Any], *, required_default: bool = False) -> Param | None:
    name = r.text(spec, "name", pointer)
    if name is None:
        return None
    raw, value_ptr = r.child(spec, "value", pointer)
    return Param(
        name=name, in_=r.text(spec, "in", pointer), pointer=pointer, type=_type(r, spec, pointer),
        description=r.text(spec, "description", pointer),
        required=r.flag(spec, "required", pointer, required_default),
        value=Value.of(raw, value_ptr) if raw is not None else None, pattern=r.text(spec, "pattern", pointer),
        schema=schema_keywords(r, spec, pointer),
    )


def schema_keywords(r: Reader, spec: dict[str, Any], pointer: str) -> Any:
    """A ``schema`` mapping (naftiko-runtime extension: JSON Schema keywords), frozen; else empty."""
    raw, _ = r.child(spec, "schema", pointer)
    return freeze(raw) if isinstance(raw, dict) else EMPTY


def _type(r: Reader, spec: dict[str, Any], pointer: str) -> str | None:
    """A declared type; a JSON Schema style list (`[array, "null"]`) is its first non-null entry."""
    kinds = r.texts(spec, "type", pointer) or (r.text(spec, "type", pointer),)
    return next((k for k in kinds if k and k != "null"), None)


def params(r: Reader, node: dict[str, Any] | None, pointer: str, key: str = "inputParameters", *,
           required_default: bool = False) -> tuple[Param, ...]:
    found = (_param(r, ptr, spec, required_default=required_default) for ptr, spec in r.entries(node, key, pointer))
    return tuple(p for p in found if p is not None)


def auth(r: Reader, node: dict[str, Any] | None, pointer: str) -> Auth | None:
    if node is None:
        return None
    spec, ptr = r.child(node, "authentication", pointer)
    if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
        return None
    fields = {k: Value.of(v, join(ptr, k)) for k, v in spec.items()
              if k != "type" and isinstance(k, str) and r.ok(join(ptr, k))}
    return Auth(str(spec["type"]).lower(), MappingProxyType(fields), ptr)


def _consumer(r: Reader, pointer: str, spec: dict[str, Any]) -> Consumer | None:
    namespace = r.text(spec, "namespace", pointer)
    if namespace is None:
        return None
    shared = params(r, spec, pointer)
    resilience = consumer_resilience(r, spec, pointer)
    declared = [op for rptr, resource in r.entries(spec, "resources", pointer)
                for optr, raw in r.entries(resource, "operations", rptr)
                if (op := _operation(r, optr, raw, rptr, resource, namespace, shared, resilience)) is not None]
    operations = {op.name: op for op in reversed(declared)}  # the first of each name wins
    base, base_ptr = r.child(spec, "baseUri", pointer)
    headers, headers_ptr = r.child(spec, "headers", pointer)
    return Consumer(
        namespace=namespace, base_uri=Value.of(base, base_ptr) if isinstance(base, str) else None, pointer=pointer,
        description=r.text(spec, "description", pointer), authentication=auth(r, spec, pointer),
        parameters=shared, operations=MappingProxyType(dict(reversed(operations.items()))),
        declared=tuple(declared),
        headers=tuple((str(k), Value.of(v, join(headers_ptr, k))) for k, v in headers.items()
                      if isinstance(k, str) and isinstance(v, str | int | float) and not isinstance(v, bool))
        if isinstance(headers, dict) else (),
        resilience=resilience,
    )


def _merged(*levels: tuple[Param, ...]) -> tuple[Param, ...]:
    """Consumes-level, then resource-level, then operation-level; later wins by (name, in)."""
    chosen: dict[tuple[str, str | None], Param] = {}
    for level in levels:
        for param in level:
            chosen.pop((param.name, param.in_), None)
            chosen[(param.name, param.in_)] = param
    return tuple(chosen.values())


def _operation(r: Reader, pointer: str, spec: dict[str, Any], resource_ptr: str, resource: dict[str, Any],
               namespace: str, shared: tuple[Param, ...], resilience: Resilience) -> Operation | None:
    name = r.text(spec, "name", pointer)
    if name is None:
        return None
    path = r.text(resource, "path", resource_ptr) or ""
    outputs = tuple(
        ConsumedOutput(out_name, r.text(out, "type", optr), compile_or_none(expression), optr, expression)
        for optr, out in r.entries(spec, "outputParameters", pointer)
        if (out_name := r.text(out, "name", optr)) is not None
        for expression in [r.text(out, "value", optr) if is_path(out.get("value")) else None]
    )
    fmt = r.text(spec, "outputRawFormat", pointer)
    pagination = _pagination(r, spec, pointer)
    declared = _merged(shared, params(r, resource, resource_ptr), params(r, spec, pointer))
    return Operation(
        namespace=namespace, name=name, method=(r.text(spec, "method", pointer) or "GET").upper(), path=path,
        pointer=pointer, resource=r.text(resource, "name", resource_ptr) or "", resource_pointer=resource_ptr,
        description=r.text(spec, "description", pointer) or r.text(resource, "description", resource_ptr),
        placeholders=placeholders(path),
        params=(*declared, *_paging_params(pagination, declared)),
        body=_body(r, spec, pointer), output_raw_format=fmt.lower() if fmt else None,
        output_schema=r.text(spec, "outputSchema", pointer), outputs=outputs,
        pagination=pagination,
        resilience=operation_resilience(r, spec, pointer, resilience),
        output_media_type=r.text(spec, "outputMediaType", pointer),
        max_binary_bytes=binary_size(r.text(spec, "maxBinarySize", pointer)),
    )


_SIZE_UNITS = {"B": 1, "KiB": 1024, "MiB": 1024 ** 2, "GiB": 1024 ** 3}


def binary_size(text: str | None) -> int | None:
    """``10MiB`` -> bytes (the schema checks the form; anything else is None)."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(B|KiB|MiB|GiB)", text or "")
    return max(1, int(float(match.group(1)) * _SIZE_UNITS[match.group(2)])) if match else None


PAGINATION_TYPES = ("cursor", "offset", "page", "link")


def _paging_params(pagination: Pagination | None, declared: tuple[Param, ...]) -> tuple[Param, ...]:
    """The parameters pagination sends that the operation does not declare, placed where ``in`` says
    (without them every request would ask for the first page again)."""
    if pagination is None:
        return ()
    names = {p.name for p in declared}
    wanted = [n for n in (pagination.param, pagination.size_param) if n and n not in names]
    return tuple(Param(name, pagination.in_, pagination.pointer, type="string") for name in dict.fromkeys(wanted))


def _pagination(r: Reader, spec: dict[str, Any], pointer: str) -> Pagination | None:
    node, ptr = r.child(spec, "pagination", pointer)
    kind = r.text(node, "type", ptr) if isinstance(node, dict) else None
    if not isinstance(node, dict) or kind not in PAGINATION_TYPES:
        return None
    items, following = r.text(node, "items", ptr), r.text(node, "next", ptr)

    def bounded(key: str, default: int, low: int, high: int) -> int:
        value = r.integer(node, key, ptr)
        return value if value is not None and low <= value <= high else default

    return Pagination(
        type=kind, pointer=ptr, items=compile_or_none(items), items_expression=items,
        next=compile_or_none(following), next_expression=following, param=r.text(node, "param", ptr),
        in_=r.text(node, "in", ptr) or "query", size=r.integer(node, "size", ptr),
        size_param=r.text(node, "sizeParam", ptr),
        start=bounded("start", 1 if kind == "page" else 0, 0, 1_000_000),
        max_pages=bounded("maxPages", 10, 1, 1000), max_items=bounded("maxItems", 1000, 1, 1_000_000),
        mode="page" if r.text(node, "mode", ptr) == "page" else "merge",
    )


def _body(r: Reader, spec: dict[str, Any], pointer: str) -> Body | None:
    raw, ptr = r.child(spec, "body", pointer)
    if raw is None:
        return None
    if isinstance(raw, dict) and isinstance(raw.get("type"), str):
        kind, data = raw["type"], raw.get("data")
    else:
        kind, data = "raw", raw
    return Body(kind, Value.of(data, ptr))
