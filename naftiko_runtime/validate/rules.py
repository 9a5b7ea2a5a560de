"""Semantic rules of ``naftiko validate``: cross-references and meaning, not shape.

``structure`` checks the shape of a document; these rules check that what it says makes sense:
every ``call``/``ref``/``forward`` names something that exists, every value a consumed request
needs has a source, names are unique where clients need them to be, templates name variables that
exist, and exposures served together can share their address:port.

The rules run on the same data as ``structure``, even when the shape is wrong, so every access is
defensive: anything malformed is skipped (``structure`` already reports it). One pass per document
builds an index (``_Ctx``) and each rule is a small function over it.

Codes reuse the reference Spectral rule names where one exists (without the ``naftiko-`` prefix).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from naftiko_runtime.errors import Diagnostic, Location, Severity
from naftiko_runtime.load import Document
from naftiko_runtime.model import PATH_PLACEHOLDER
from naftiko_runtime.source import join

_E, _W, _I = Severity.ERROR, Severity.WARNING, Severity.INFO

# code -> (default severity, one-line summary)
_RULES: dict[str, tuple[Severity, str]] = {
    # references
    "unknown-call": (_E, "a `call` names no consumed operation"),
    "unknown-ref": (_E, "a `ref` names no aggregate function"),
    "ref-chain": (_E, "an aggregate function refers to another aggregate function"),
    "unknown-forward-target": (_E, "`forward.targetNamespace` names no consumed adapter"),
    # names
    "namespaces-unique": (_E, "a namespace is declared twice (consumes, exposes, aggregates, binds)"),
    "operation-name-duplicate": (_E, "two operations share a name within one adapter"),
    "aggregate-function-duplicate": (_E, "two aggregate functions share the same `namespace.name`"),
    "tool-name-invalid": (_E, "a tool or route operation name is not valid for LLM clients"),
    "tool-name-duplicate": (_E, "two tools are served under the same name"),
    "step-name-duplicate": (_E, "two steps of one operation share a name"),
    # wiring and values
    "with-key-unused": (_W, "a `with` key feeds nothing the consumed operation uses"),
    "with-unknown-input": (_E, "a `with` value names an input the tool or operation does not declare"),
    "with-foreign-namespace": (_W, "a `with` value names another adapter's input and is sent literally"),
    "path-placeholder-unbound": (_E, "a consumed path placeholder has no value source for a caller"),
    "unknown-template-variable": (_W, "a `{{NAME}}` template names no parameter or bind variable"),
    "bare-bind-name": (_W, "a value equals a bind variable name without `{{ }}`"),
    "lookup-index-unknown": (_E, "a lookup `index` names no earlier step"),
    "step-reference-unknown": (_E, "a `$.<step>` reference names no step of the operation"),
    "jsonpath-invalid": (_E, "a JSONPath expression does not parse"),
    # Valid spec this runtime cannot run yet: a warning, and the call fails with a clear error.
    "unsupported-format": (_W, "an `outputRawFormat` this runtime cannot decode yet"),
    "unsupported-step": (_W, "a step type this runtime cannot run yet (script)"),
    "aggregate-semantics-consistency": (_W, "hints or HTTP method contradict the function's semantics"),
    # skills, resources, prompts
    "skill-source-unknown": (_E, "`from.sourceNamespace` names no sibling rest or mcp adapter"),
    "skill-action-unknown": (_E, "`from.action` names no operation or tool of its source adapter"),
    "skill-instruction-without-location": (_E, "a skill tool uses `instruction` but the skill has no `location`"),
    "resource-template-static": (_E, "a static (`location`) MCP resource has a `{param}` uri template"),
    "prompt-argument-unknown": (_W, "a prompt `{{placeholder}}` names no declared argument"),
    # transports and endpoints
    "mcp-auth-stdio-conflict": (_W, "an MCP adapter with `transport: stdio` declares `authentication`"),
    "control-port-singleton-and-unique": (_E, "more than one control adapter, or its port is shared"),
    "control-address-localhost-warning": (_W, "the control adapter listens beyond localhost"),
    "address-port-conflict": (_E, "exposures cannot share this address:port"),
    "rest-route-conflict": (_E, "REST routes served on one address:port overlap"),
    "address-not-example": (_W, "a server `address` points at example.com"),
    # paths and URIs
    "consumes-baseuri-no-trailing-slash": (_W, "a consumed `baseUri` ends with a slash"),
    "consumed-resource-no-query-in-path": (_W, "a consumed resource `path` holds a query string"),
    "rest-resource-path-no-trailing-slash": (_W, "an exposed REST resource `path` ends with a slash"),
    "rest-resource-path-no-query": (_W, "an exposed REST resource `path` holds a query string"),
    # security
    "oauth2-https-authserver": (_E, "an OAuth2 `authorizationServerUri` is not https"),
    "oauth2-resource-https": (_W, "an OAuth2 `resource` is not https"),
    "oauth2-scopes-defined": (_W, "an OAuth2 server authentication declares no `scopes`"),
    "no-script-tags-in-markdown": (_E, "a description or label holds a <script> tag"),
    "no-eval-in-markdown": (_E, "a description or label holds an eval( call"),
}

CODES: dict[str, str] = {code: summary for code, (_sev, summary) in _RULES.items()}

ARG_NAMESPACE = "tools"  # the published dialect's "this tool's argument" prefix in `with` values
_LLM_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ARG_REF = re.compile(r"^([A-Za-z0-9-]+)\.([A-Za-z0-9_*-]+)$")
_URI_PARAM = re.compile(r"\{([A-Za-z0-9_.\-]+)\}")
_TAG = re.compile(r"\{\{(\{?)\s*([#^/!&>]?)\s*(.*?)\s*\}?\}\}", re.DOTALL)
_TEMPLATE_NAME = re.compile(r"^[\w\-]+(?:\.[\w\-]+)*$")
_UNSUPPORTED_FORMATS = frozenset({"avro", "protobuf"})
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
_WILDCARD = frozenset({"0.0.0.0", "::", "[::]", "*"})
_DEFAULT_ADDRESS = "127.0.0.1"  # ARCHITECTURE.md: serve defaults to 127.0.0.1


# --------------------------------------------------------------------------------------------------
# Small defensive helpers
# --------------------------------------------------------------------------------------------------


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _entries(parent: Any, key: str, pointer: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(pointer, entry) for each mapping in the list ``parent[key]``; anything else is skipped."""
    items = parent.get(key) if isinstance(parent, dict) else None
    if not isinstance(items, list):
        return
    base = join(pointer, key)
    for i, item in enumerate(items):
        if isinstance(item, dict):
            yield join(base, i), item


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _names(params: Any) -> set[str]:
    return {p["name"] for p in params if isinstance(p, dict) and isinstance(p.get("name"), str)} \
        if isinstance(params, list) else set()


def _closest(value: str, choices: Iterable[str], template: str = "did you mean `{}`?") -> str | None:
    match = difflib.get_close_matches(value, sorted(set(choices)), n=1, cutoff=0.6)
    return template.format(match[0]) if match else None


def template_names(text: str) -> list[str]:
    """Variable names a Mustache template reads at its top level (section names included,
    names inside sections skipped: they may be relative to the section's item)."""
    names: list[str] = []
    depth = 0
    for match in _TAG.finditer(text):
        sigil, name = match.group(2), match.group(3)
        if sigil in ("!", ">"):
            continue
        if sigil == "/":
            depth = max(0, depth - 1)
            continue
        if depth == 0 and _TEMPLATE_NAME.match(name):
            names.append(name)
        if sigil in ("#", "^"):
            depth += 1
    return names


def _strings(value: Any, pointer: str) -> Iterator[tuple[str, str]]:
    """Every string inside ``value`` with its pointer."""
    if isinstance(value, str):
        yield pointer, value
    elif isinstance(value, dict):
        for key, child in value.items():
            yield from _strings(child, join(pointer, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _strings(child, join(pointer, i))


def _placeholders(path: Any) -> list[str]:
    return list(dict.fromkeys(PATH_PLACEHOLDER.findall(path))) if isinstance(path, str) else []


def _port(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 5:
        return int(value)
    return None


# --------------------------------------------------------------------------------------------------
# The index each rule reads
# --------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Op:
    """One consumed operation, addressed ``namespace.name``."""

    ref: str
    pointer: str
    adapter_ptr: str
    adapter: dict[str, Any]
    resource_ptr: str
    resource: dict[str, Any]
    spec: dict[str, Any]

    def params(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Adapter-, resource- and operation-level consumed input parameters."""
        yield from _entries(self.adapter, "inputParameters", self.adapter_ptr)
        yield from _entries(self.resource, "inputParameters", self.resource_ptr)
        yield from _entries(self.spec, "inputParameters", self.pointer)

    def placeholders(self) -> list[str]:
        return _placeholders(self.resource.get("path"))

    def valued_params(self) -> set[str]:
        """Parameters that carry their own value (or read the environment)."""
        return {p["name"] for _, p in self.params()
                if isinstance(p.get("name"), str) and ("value" in p or p.get("in") == "environment")}

    def feeds(self) -> set[str]:
        """Every name a `with` key can feed: parameters, path placeholders, template names."""
        names = {p["name"] for _, p in self.params() if isinstance(p.get("name"), str)}
        names.update(self.placeholders())
        texts = [p.get("value") for _, p in self.params()]
        body = self.spec.get("body")
        texts.append(body if isinstance(body, str) else json.dumps(body, default=str))
        texts.extend(v for _, v in _strings(self.adapter.get("authentication"), ""))
        for text in texts:
            if isinstance(text, str):
                for name in template_names(text):
                    names.update((name, name.split(".", 1)[0]))
        return names


@dataclass(slots=True)
class _Unit:
    """Something a client invokes: an MCP tool or resource, a REST operation, an aggregate function."""

    kind: str
    name: str
    pointer: str
    spec: dict[str, Any]
    namespace: str  # the prefix that means "this unit's argument" in `with` values
    declared: frozenset[str] | None  # declared inputs; None when inferred from `with` references
    extra: frozenset[str] = frozenset()  # inputs beyond inputParameters (path / uri placeholders)
    inputs: frozenset[str] = frozenset()

    @property
    def label(self) -> str:
        return f"{self.kind} `{self.name}`"

    def argument(self, value: Any) -> str | None:
        """``<namespace>.x`` or ``tools.x`` -> ``x``."""
        match = _ARG_REF.match(value) if isinstance(value, str) else None
        if match and match.group(1) in (self.namespace, ARG_NAMESPACE):
            return match.group(2)
        return None

    def withs(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every `with` map of the unit (its own and its steps'), with pointers."""
        if isinstance(self.spec.get("with"), dict):
            yield join(self.pointer, "with"), self.spec["with"]
        for ptr, step in _entries(self.spec, "steps", self.pointer):
            if isinstance(step.get("with"), dict):
                yield join(ptr, "with"), step["with"]

    def infer(self) -> None:
        args = {a for _, w in self.withs() for v in w.values() if (a := self.argument(v))}
        base = self.declared if self.declared is not None else frozenset(args)
        self.inputs = base | self.extra


@dataclass(slots=True)
class _Call:
    """One `call: ns.op` site and what its caller has in scope."""

    unit: _Unit
    pointer: str
    target: str
    with_ptr: str
    with_: dict[str, Any]
    prior: tuple[str, ...] = ()  # earlier steps' names
    outer: frozenset[str] = frozenset()  # the unit's own `with` keys, visible to its steps

    def supplied(self) -> set[str]:
        return set(self.with_) | self.unit.inputs | set(self.prior) | self.outer


@dataclass(slots=True)
class _Binds:
    variables: set[str] = field(default_factory=set)
    qualified: dict[str, set[str]] = field(default_factory=dict)

    def has(self, name: str) -> bool:
        if name in self.variables:
            return True
        ns, _, var = name.partition(".")
        return var in self.qualified.get(ns, ())

    def all_names(self) -> set[str]:
        return self.variables | {f"{ns}.{v}" for ns, vs in self.qualified.items() for v in vs}


class _Ctx:
    """Everything the rules need about one document, collected once."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.data: dict[str, Any] = doc.data if isinstance(doc.data, dict) else {}
        self.cap = _dict(self.data.get("capability"))
        self.out: list[Diagnostic] = []
        self.consumes = [*_entries(self.data, "consumes", ""),
                         *_entries(self.cap, "consumes", "/capability")]
        self.exposes = list(_entries(self.cap, "exposes", "/capability"))
        self.aggregates = list(_entries(self.cap, "aggregates", "/capability"))
        self.binds = self._binds()
        self.ops = self._ops()
        self.functions = self._functions()
        self.units = self._units()
        self.callers: dict[str, list[_Call]] = {}

    def report(self, code: str, message: str, pointer: str, *, hint: str | None = None,
               key: bool = False, related: Iterable[str] = (), severity: Severity | None = None) -> None:
        diag = self.doc.diag(code, message, pointer, severity=severity or _RULES[code][0], hint=hint, key=key)
        locations = tuple(self.doc.locate(p, key=key) for p in related)
        self.out.append(dataclasses.replace(diag, related=locations) if locations else diag)

    def skip(self, target: str) -> bool:
        """References into an import that could not be loaded are not checked (already warned)."""
        return target.split(".", 1)[0] in self.doc.unresolved_imports

    def _binds(self) -> _Binds:
        binds = _Binds()
        for _, bind in [*_entries(self.data, "binds", ""), *_entries(self.cap, "binds", "/capability")]:
            keys = {k for k in _dict(bind.get("keys")) if isinstance(k, str)}
            binds.variables |= keys
            if isinstance(bind.get("namespace"), str):
                binds.qualified.setdefault(bind["namespace"], set()).update(keys)
        return binds

    def _ops(self) -> dict[str, _Op]:
        ops: dict[str, _Op] = {}
        for aptr, adapter in self.consumes:
            ns = _str(adapter.get("namespace"))
            seen: dict[str, str] = {}
            for rptr, resource in _entries(adapter, "resources", aptr):
                for optr, op in _entries(resource, "operations", rptr):
                    name = _str(op.get("name"))
                    if ns is None or name is None:
                        continue
                    if name in seen:
                        self.report("operation-name-duplicate",
                                    f"consumed operation `{name}` is declared twice in `{ns}`",
                                    join(optr, "name"), related=[seen[name]],
                                    hint="`call: namespace.operation` must name exactly one operation")
                        continue
                    seen[name] = join(optr, "name")
                    ops[f"{ns}.{name}"] = _Op(f"{ns}.{name}", optr, aptr, adapter, rptr, resource, op)
        return ops

    def _functions(self) -> dict[str, tuple[str, dict[str, Any], str]]:
        functions: dict[str, tuple[str, dict[str, Any], str]] = {}
        for aptr, agg in self.aggregates:
            ns = _str(agg.get("namespace"))
            for fptr, fn in _entries(agg, "functions", aptr):
                name = _str(fn.get("name"))
                if ns is None or name is None:
                    continue
                ref = f"{ns}.{name}"
                if ref in functions:
                    self.report("aggregate-function-duplicate", f"aggregate function `{ref}` is declared twice",
                                join(fptr, "name"), related=[join(functions[ref][0], "name")])
                    continue
                functions[ref] = (fptr, fn, ns)
        return functions

    def _units(self) -> list[_Unit]:
        units: list[_Unit] = []
        for eptr, exposure in self.exposes:
            ns = _str(exposure.get("namespace")) or ""
            if exposure.get("type") == "mcp":
                units.extend(self._tool(tptr, tool, ns) for tptr, tool in _entries(exposure, "tools", eptr))
                for rptr, res in _entries(exposure, "resources", eptr):
                    uri = _str(res.get("uri")) or ""
                    # a resource's only inputs are its uri template parameters
                    units.append(_Unit("resource", str(res.get("name", "?")), rptr, res, ns,
                                       frozenset(_URI_PARAM.findall(uri))))
            elif exposure.get("type") == "rest":
                for rptr, res in _entries(exposure, "resources", eptr):
                    for optr, op in _entries(res, "operations", rptr):
                        units.append(self._rest_operation(optr, op, res, ns))
        for fref, (fptr, fn, ns) in self.functions.items():
            declared = frozenset(_names(fn["inputParameters"])) \
                if isinstance(fn.get("inputParameters"), list) else None
            units.append(_Unit("function", fref, fptr, fn, ns, declared))
        for unit in units:
            unit.infer()
        return units

    def _tool(self, pointer: str, tool: dict[str, Any], ns: str) -> _Unit:
        declared: frozenset[str] | None = None
        if isinstance(tool.get("inputParameters"), list):
            declared = frozenset(_names(tool["inputParameters"]))
        elif isinstance(tool.get("ref"), str) and tool["ref"] in self.functions:
            fn = self.functions[tool["ref"]][1]
            if isinstance(fn.get("inputParameters"), list):
                declared = frozenset(_names(fn["inputParameters"]))
        return _Unit("tool", self.tool_name(tool) or "?", pointer, tool, ns, declared)

    @staticmethod
    def _rest_operation(pointer: str, op: dict[str, Any], res: dict[str, Any], ns: str) -> _Unit:
        lists = [p for p in (res.get("inputParameters"), op.get("inputParameters")) if isinstance(p, list)]
        declared = frozenset(set().union(*map(_names, lists))) if lists else None
        extra = frozenset(_placeholders(res.get("path")))
        name = _str(op.get("name")) or f"{op.get('method', '?')} {res.get('path', '?')}"
        return _Unit("operation", name, pointer, op, ns, declared, extra)

    def tool_name(self, tool: dict[str, Any]) -> str | None:
        """A tool's name, inherited from its aggregate function when absent."""
        if isinstance(tool.get("name"), str):
            return tool["name"]
        fn = self.functions.get(tool.get("ref")) if isinstance(tool.get("ref"), str) else None
        return _str(fn[1].get("name")) if fn else None

    def adapter_namespaces(self) -> set[str]:
        """Namespaces of exposures and aggregates: the prefixes of argument references."""
        return {e["namespace"] for _, e in [*self.exposes, *self.aggregates] if isinstance(e.get("namespace"), str)}


Rule = Callable[[_Ctx], None]


# --------------------------------------------------------------------------------------------------
# Names and namespaces
# --------------------------------------------------------------------------------------------------


def _namespaces_unique(ctx: _Ctx) -> None:
    seen: dict[str, str] = {}
    entries = [*ctx.consumes, *ctx.exposes, *ctx.aggregates,
               *_entries(ctx.data, "binds", ""), *_entries(ctx.cap, "binds", "/capability")]
    for ptr, entry in entries:
        key = "namespace" if "namespace" in entry else "as" if "as" in entry else "import"
        ns = _str(entry.get(key))
        if ns is None:
            continue
        if ns in seen:
            ctx.report("namespaces-unique", f"namespace `{ns}` is already declared", join(ptr, key),
                       related=[seen[ns]], hint="namespaces route calls, forwards and templates: rename one")
        else:
            seen[ns] = join(ptr, key)


def _tool_names(ctx: _Ctx) -> None:
    """Names clients see: valid for LLM tool-calling and unique within one MCP exposure."""
    for eptr, exposure in ctx.exposes:
        kind = exposure.get("type")
        seen: dict[str, str] = {}
        if kind == "mcp":
            items = [(join(p, "name"), ctx.tool_name(t), "tool") for p, t in _entries(exposure, "tools", eptr)]
        elif kind == "rest":
            items = [(join(p, "name"), _str(o.get("name")), "operation")
                     for rp, r in _entries(exposure, "resources", eptr)
                     for p, o in _entries(r, "operations", rp)]
        else:
            continue
        for ptr, name, what in items:
            if name is None:
                continue
            if not _LLM_NAME.match(name):
                ctx.report("tool-name-invalid",
                           f"{what} name `{name[:80]}` must be 1-64 letters, digits, `_` or `-` for LLM clients",
                           ptr)
            if name in seen:
                code = "tool-name-duplicate" if kind == "mcp" else "operation-name-duplicate"
                ctx.report(code, f"{what} name `{name}` is used twice in exposure "
                           f"`{exposure.get('namespace')}`", ptr, related=[seen[name]])
            else:
                seen[name] = ptr


# --------------------------------------------------------------------------------------------------
# References: call, ref, forward
# --------------------------------------------------------------------------------------------------


def _call_sites(unit: _Unit) -> Iterator[_Call]:
    spec = unit.spec
    own_with = spec.get("with") if isinstance(spec.get("with"), dict) else {}
    if isinstance(spec.get("call"), str):
        yield _Call(unit, join(unit.pointer, "call"), spec["call"], join(unit.pointer, "with"), own_with)
    prior: list[str] = []
    for sptr, step in _entries(spec, "steps", unit.pointer):
        if isinstance(step.get("call"), str) and step.get("type", "call") == "call":
            with_ = step.get("with") if isinstance(step.get("with"), dict) else {}
            yield _Call(unit, join(sptr, "call"), step["call"], join(sptr, "with"), with_,
                        tuple(prior), frozenset(own_with))
        if isinstance(step.get("name"), str):
            prior.append(step["name"])


def _calls(ctx: _Ctx) -> None:
    """Resolve every call site; wiring checks then run on the ones that resolve."""
    for unit in ctx.units:
        for call in _call_sites(unit):
            if ctx.skip(call.target):
                continue
            if call.target in ctx.functions and unit.kind == "function":
                ctx.report("ref-chain", f"`call: {call.target}` names another aggregate function; ref chains "
                           "are not allowed", call.pointer, hint="call the consumed operation it calls instead")
                continue
            if call.target in ctx.functions:
                ctx.report("unknown-call", f"`{call.target}` is an aggregate function, not a consumed operation",
                           call.pointer, hint=f"write `ref: {call.target}` instead of `call:`")
                continue
            op = ctx.ops.get(call.target)
            if op is None:
                ctx.report("unknown-call", f"`{call.target}` is not a consumed operation", call.pointer,
                           hint=_closest(call.target, ctx.ops))
                continue
            ctx.callers.setdefault(op.ref, []).append(call)
            _with_keys(ctx, call, op)
            _path_sources(ctx, call, op)


def _refs(ctx: _Ctx) -> None:
    for unit in ctx.units:
        ref = unit.spec.get("ref")
        if not isinstance(ref, str):
            continue
        if unit.kind == "function":
            ctx.report("ref-chain", f"aggregate function `{unit.name}` refers to `{ref}`; ref chains are not "
                       "allowed", join(unit.pointer, "ref"), hint="give the function its own call or steps")
        elif ref not in ctx.functions:
            ctx.report("unknown-ref", f"`{ref}` is not an aggregate function", join(unit.pointer, "ref"),
                       hint=_closest(ref, ctx.functions))
        else:
            _semantics_vs_unit(ctx, unit, ctx.functions[ref][1])


def _forwards(ctx: _Ctx) -> None:
    consumed = {a["namespace"] for _, a in ctx.consumes if isinstance(a.get("namespace"), str)}
    for eptr, exposure in ctx.exposes:
        for rptr, res in _entries(exposure, "resources", eptr):
            target = _str(_dict(res.get("forward")).get("targetNamespace"))
            if target is None or target in consumed or target in ctx.doc.unresolved_imports:
                continue
            ctx.report("unknown-forward-target", f"forward target `{target}` is not a consumed namespace",
                       join(join(rptr, "forward"), "targetNamespace"), hint=_closest(target, consumed))


# --------------------------------------------------------------------------------------------------
# `with` wiring and path placeholders
# --------------------------------------------------------------------------------------------------


def _with_keys(ctx: _Ctx, call: _Call, op: _Op) -> None:
    feeds = op.feeds()
    for key in call.with_:
        if isinstance(key, str) and key not in feeds:
            hint = _closest(key, feeds) or f"`{op.ref}` has no parameter, placeholder or template named {key}"
            ctx.report("with-key-unused", f"`with` key `{key}` feeds nothing in `{op.ref}`",
                       join(call.with_ptr, key), key=True, hint=hint)


def _with_values(ctx: _Ctx) -> None:
    """`with` values: argument references must name declared inputs; templates must resolve."""
    others = ctx.adapter_namespaces()
    for unit in ctx.units:
        for call_ptr, with_ in unit.withs():
            step_names = _step_names(unit.spec)
            for key, value in with_.items():
                ptr = join(call_ptr, key)
                arg = unit.argument(value)
                if arg is not None:
                    if unit.declared is not None and arg not in unit.inputs:
                        ctx.report("with-unknown-input", f"`{value}` names no input of {unit.label}", ptr,
                                   hint=_closest(arg, unit.inputs) or "declare it in `inputParameters`")
                    continue
                match = _ARG_REF.match(value) if isinstance(value, str) else None
                if match and match.group(1) in others - {unit.namespace}:
                    ctx.report("with-foreign-namespace",
                               f"`{value}` names an input of adapter `{match.group(1)}`, not of {unit.label}; "
                               "it is sent as the literal text", ptr,
                               hint=f"write `{unit.namespace}.{match.group(2)}`")
                elif isinstance(value, str):
                    known = unit.inputs | step_names | set(_dict(unit.spec.get("with")))
                    _templates(ctx, ptr, value, known, unit.label)


def _step_names(spec: dict[str, Any]) -> set[str]:
    return {s["name"] for _, s in _entries(spec, "steps", "") if isinstance(s.get("name"), str)}


def _path_sources(ctx: _Ctx, call: _Call, op: _Op) -> None:
    supplied = call.supplied() | op.valued_params()
    for name in op.placeholders():
        if name in supplied or name.split(".", 1)[0] in supplied or ctx.binds.has(name):
            continue
        example = f"with: {{{name}: {call.unit.namespace}.{name}}}"
        ctx.report("path-placeholder-unbound",
                   f"`{{{name}}}` in the path of `{op.ref}` has no value when {call.unit.label} calls it",
                   call.pointer, related=[join(op.resource_ptr, "path")],
                   hint=f"add `{example}` or an input parameter named {name}")


# --------------------------------------------------------------------------------------------------
# Templates and bind names
# --------------------------------------------------------------------------------------------------


def _templates(ctx: _Ctx, pointer: str, text: str, known: set[str] | frozenset[str], where: str) -> None:
    for name in template_names(text):
        if name in known or name.split(".", 1)[0] in known or ctx.binds.has(name):
            continue
        choices = set(known) | ctx.binds.all_names()
        ctx.report("unknown-template-variable", f"`{{{{{name}}}}}` names nothing known in {where}", pointer,
                   hint=_closest(name, choices, "did you mean `{{{{{}}}}}`?"))


def _consumed_templates(ctx: _Ctx) -> None:
    """Templates on the consumed side resolve against parameters, binds and what callers supply."""
    if ctx.doc.kind != "capability":
        return  # a shared consumes file: its callers live in other files
    for aptr, adapter in ctx.consumes:
        ns = _str(adapter.get("namespace"))
        if ns is None:
            continue
        ops = [op for op in ctx.ops.values() if op.adapter is adapter]
        adapter_known = _names(adapter.get("inputParameters")).union(
            *(_supplied_to(ctx, op) for op in ops))
        auth = adapter.get("authentication")
        for ptr, text in _strings(auth, join(aptr, "authentication")):
            if not ptr.endswith(("/type", "/placement")):
                _templates(ctx, ptr, text, adapter_known, f"consumed adapter `{ns}`")
        for ptr, param in _entries(adapter, "inputParameters", aptr):
            if isinstance(param.get("value"), str):
                _templates(ctx, join(ptr, "value"), param["value"], adapter_known, f"consumed adapter `{ns}`")
        for op in ops:
            if op.ref not in ctx.callers:
                continue  # an operation nobody calls: its templates have nothing to resolve against
            known = {p["name"] for _, p in op.params() if isinstance(p.get("name"), str)} | _supplied_to(ctx, op)
            for ptr, param in [*_entries(op.resource, "inputParameters", op.resource_ptr),
                               *_entries(op.spec, "inputParameters", op.pointer)]:
                if isinstance(param.get("value"), str):
                    _templates(ctx, join(ptr, "value"), param["value"], known, f"`{op.ref}`")
            for ptr, text in _strings(op.spec.get("body"), join(op.pointer, "body")):
                _templates(ctx, ptr, text, known, f"`{op.ref}`")


def _supplied_to(ctx: _Ctx, op: _Op) -> set[str]:
    return set().union(*(c.supplied() for c in ctx.callers.get(op.ref, [])))


def _exposed_templates(ctx: _Ctx) -> None:
    """Server-side secrets and the OTLP endpoint see bind variables only."""
    for eptr, exposure in ctx.exposes:
        for ptr, text in _strings(exposure.get("authentication"), join(eptr, "authentication")):
            _templates(ctx, ptr, text, set(), "server authentication (bind variables only)")
        otlp = _dict(_dict(_dict(exposure.get("observability")).get("exporters")).get("otlp"))
        if isinstance(otlp.get("endpoint"), str):
            ptr = join(eptr, "observability") + "/exporters/otlp/endpoint"
            _templates(ctx, ptr, otlp["endpoint"], set(), "the OTLP endpoint (bind variables only)")


def _output_values(ctx: _Ctx) -> None:
    """Mock and static output `value`s render against the inputs, `with` keys and step outputs."""
    for unit in ctx.units:
        known = unit.inputs | set(_dict(unit.spec.get("with"))) | _step_names(unit.spec)
        for ptr, param in _output_params(unit.spec, unit.pointer):
            if isinstance(param.get("value"), str) and not param["value"].lstrip().startswith("$"):
                _templates(ctx, join(ptr, "value"), param["value"], known, unit.label)


def _bare_bind_names(ctx: _Ctx) -> None:
    if not ctx.binds.variables:
        return
    for section, base in ((ctx.data.get("consumes"), "/consumes"), (ctx.cap, "/capability")):
        for ptr, text in _strings(section, base):
            parts = ptr.split("/")
            if text in ctx.binds.variables and "binds" not in parts[:3] and parts[-1] not in ("name", "namespace"):
                ctx.report("bare-bind-name", f"`{text}` is sent as the literal text `{text}`, not the value of "
                           f"bind variable {text}", ptr, hint=f"did you mean `{{{{{text}}}}}`?")


# --------------------------------------------------------------------------------------------------
# Steps, mappings, JSONPath, formats
# --------------------------------------------------------------------------------------------------


def _steps(ctx: _Ctx) -> None:
    for unit in ctx.units:
        seen: dict[str, str] = {}
        all_names = _step_names(unit.spec)
        for sptr, step in _entries(unit.spec, "steps", unit.pointer):
            name = _str(step.get("name"))
            kind = step.get("type")
            if kind == "script":
                ctx.report("unsupported-step", "script steps are not supported by this runtime yet",
                           join(sptr, "type"), hint="use call and lookup steps, or an aggregate function")
            elif kind == "lookup":
                _lookup(ctx, unit, sptr, step, seen, all_names)
            if name is None:
                continue
            if name in seen:
                ctx.report("step-name-duplicate", f"step name `{name}` is used twice in {unit.label}",
                           join(sptr, "name"), related=[seen[name]])
            else:
                seen[name] = join(sptr, "name")
        for mptr, mapping in _entries(unit.spec, "mappings", unit.pointer):
            _step_reference(ctx, unit, join(mptr, "value"), mapping.get("value"), all_names, all_names)


def _lookup(ctx: _Ctx, unit: _Unit, pointer: str, step: dict[str, Any], earlier: dict[str, str],
            all_names: set[str]) -> None:
    index = _str(step.get("index"))
    if index is not None and index not in earlier:
        later = index in all_names
        ctx.report("lookup-index-unknown",
                   f"lookup index `{index}` names a later step" if later else
                   f"lookup index `{index}` names no step of {unit.label}", join(pointer, "index"),
                   hint="the index must be the name of an earlier call step" if later else
                   _closest(index, earlier))
    value = step.get("lookupValue")
    if isinstance(value, str) and value.startswith("$"):
        _step_reference(ctx, unit, join(pointer, "lookupValue"), value, set(earlier), all_names)
    elif isinstance(value, str):
        known = unit.inputs | set(earlier) | set(_dict(unit.spec.get("with")))
        _templates(ctx, join(pointer, "lookupValue"), value, known, unit.label)


def _step_reference(ctx: _Ctx, unit: _Unit, pointer: str, value: Any, allowed: set[str],
                    all_names: set[str]) -> None:
    """`$.<step>.field` reads the step context: the first segment must be a (usable) step."""
    if not isinstance(value, str) or not value.startswith("$.") or not unit.spec.get("steps"):
        return
    head = re.split(r"[.\[]", value[2:], maxsplit=1)[0]
    if not head or head in allowed:
        return
    later = head in all_names
    ctx.report("step-reference-unknown",
               f"`{value}` reads step `{head}`, which runs later" if later else
               f"`{value}` reads step `{head}`, which {unit.label} does not have", pointer,
               hint=None if later else _closest(head, all_names))


def _jsonpaths(ctx: _Ctx) -> None:
    check = _jsonpath_checker()
    for unit in ctx.units:
        for ptr, param in _output_params(unit.spec, unit.pointer):
            if isinstance(param.get("mapping"), str):
                _report_jsonpath(ctx, check, join(ptr, "mapping"), param["mapping"])
        if unit.kind == "operation":
            for ptr, param in _entries(unit.spec, "inputParameters", unit.pointer):
                if isinstance(param.get("value"), str) and param["value"].startswith("$"):
                    _report_jsonpath(ctx, check, join(ptr, "value"), param["value"])
    for op in ctx.ops.values():
        for ptr, param in _entries(op.spec, "outputParameters", op.pointer):
            if isinstance(param.get("value"), str) and param["value"].startswith("$"):
                _report_jsonpath(ctx, check, join(ptr, "value"), param["value"])


def _report_jsonpath(ctx: _Ctx, check: Callable[[str], str | None], pointer: str, expr: str) -> None:
    problem = check(expr)
    if problem:
        ctx.report("jsonpath-invalid", f"`{expr}` is not a valid JSONPath expression: {problem}", pointer)


def _jsonpath_checker() -> Callable[[str], str | None]:
    """Use the runtime's own compiler when present, so validate accepts exactly what runs."""
    try:
        from naftiko_runtime.mapping import compile_path
    except ImportError:  # pragma: no cover - mapping ships with the runtime
        from jsonpath_ng.ext import parse

        def compile_path(expr: str) -> Any:
            text = expr.strip()
            return None if text in ("$", "$.") else parse(text)

    def check(expr: str) -> str | None:
        try:
            compile_path(expr)
        except Exception as exc:  # the parser raises several unrelated types
            return str(exc).splitlines()[0][:200] or type(exc).__name__
        return None

    return check


def _output_params(spec: dict[str, Any], pointer: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for ptr, param in _entries(spec, "outputParameters", pointer):
        yield from _output_tree(param, ptr)


def _output_tree(param: dict[str, Any], pointer: str) -> Iterator[tuple[str, dict[str, Any]]]:
    yield pointer, param
    props = param.get("properties")
    if isinstance(props, dict):
        for name, child in props.items():
            if isinstance(child, dict):
                yield from _output_tree(child, join(join(pointer, "properties"), name))
    elif isinstance(props, list):
        for ptr, child in _entries(param, "properties", pointer):
            yield from _output_tree(child, ptr)
    items = param.get("items")
    if isinstance(items, dict):
        yield from _output_tree(items, join(pointer, "items"))
    elif isinstance(items, list):
        for ptr, child in _entries(param, "items", pointer):
            yield from _output_tree(child, ptr)


def _formats(ctx: _Ctx) -> None:
    for op in ctx.ops.values():
        fmt = op.spec.get("outputRawFormat")
        if isinstance(fmt, str) and fmt in _UNSUPPORTED_FORMATS:
            ctx.report("unsupported-format", f"outputRawFormat `{fmt}` is not supported by this runtime yet",
                       join(op.pointer, "outputRawFormat"), hint="use json, xml, yaml, csv, tsv, psv, html or "
                       "markdown")


# --------------------------------------------------------------------------------------------------
# Aggregates
# --------------------------------------------------------------------------------------------------


def _semantics(fn: dict[str, Any]) -> tuple[bool | None, bool | None]:
    """(safe, idempotent) as declared; a safe function is idempotent unless it says otherwise."""
    sem = _dict(fn.get("semantics"))
    safe = sem.get("safe") if isinstance(sem.get("safe"), bool) else None
    idem = sem.get("idempotent") if isinstance(sem.get("idempotent"), bool) else None
    return safe, (True if idem is None and safe else idem)


def _semantics_self(ctx: _Ctx) -> None:
    for fref, (fptr, fn, _ns) in ctx.functions.items():
        sem = _dict(fn.get("semantics"))
        if sem.get("safe") is True and sem.get("idempotent") is False:
            ctx.report("aggregate-semantics-consistency",
                       f"`{fref}` is declared safe but not idempotent; a safe function is always idempotent",
                       join(join(fptr, "semantics"), "idempotent"))


def _yaml(value: Any) -> str:
    return json.dumps(value) if isinstance(value, bool) else str(value)


def _semantics_vs_unit(ctx: _Ctx, unit: _Unit, fn: dict[str, Any]) -> None:
    safe, idem = _semantics(fn)
    ref = unit.spec.get("ref")
    if unit.kind == "tool":
        hints = _dict(unit.spec.get("hints"))
        base = join(unit.pointer, "hints")
        conflicts = [
            ("readOnly", safe is not None and hints.get("readOnly") is (not safe),
             f"hint readOnly: {_yaml(hints.get('readOnly'))} contradicts safe: {_yaml(safe)}"),
            ("destructive", safe is True and hints.get("destructive") is True,
             "hint destructive: true contradicts safe: true"),
            ("idempotent", idem is not None and hints.get("idempotent") is (not idem),
             f"hint idempotent: {_yaml(hints.get('idempotent'))} contradicts idempotent: {_yaml(idem)}"),
        ]
        for key, bad, message in conflicts:
            if bad:
                ctx.report("aggregate-semantics-consistency", f"{message} of `{ref}`", join(base, key))
    elif unit.kind == "operation" and isinstance(unit.spec.get("method"), str):
        method = unit.spec["method"].upper()
        message = None
        if safe is True and method not in ("GET", "HEAD"):
            message = f"`{ref}` is safe but exposed with {method}; use GET"
        elif safe is False and method in ("GET", "HEAD"):
            message = f"`{ref}` is not safe but exposed with {method}"
        elif idem is True and method in ("POST", "PATCH"):
            message = f"`{ref}` is idempotent but exposed with {method}; use PUT or DELETE"
        elif idem is False and method in ("PUT", "DELETE"):
            message = f"`{ref}` is not idempotent but exposed with {method}, which clients may retry"
        if message:
            ctx.report("aggregate-semantics-consistency", message, join(unit.pointer, "method"))


# --------------------------------------------------------------------------------------------------
# Exposures: MCP specifics, skills, transports, paths, security
# --------------------------------------------------------------------------------------------------


def _mcp(ctx: _Ctx) -> None:
    for eptr, exposure in ctx.exposes:
        if exposure.get("type") != "mcp":
            continue
        # (stdio with a `port` is a shape problem: structure reports it as schema-conflict)
        if exposure.get("transport") == "stdio" and "authentication" in exposure:
            ctx.report("mcp-auth-stdio-conflict", "stdio MCP servers do not run the HTTP authorization "
                       "flow; `authentication` is ignored", join(eptr, "authentication"), key=True,
                       hint="credentials come from the environment of the launching client")
        for rptr, res in _entries(exposure, "resources", eptr):
            uri = res.get("uri")
            if "location" in res and isinstance(uri, str) and _URI_PARAM.search(uri):
                ctx.report("resource-template-static", f"static resource uri `{uri}` has a `{{param}}` template; "
                           "only call or steps resources can be templates", join(rptr, "uri"))
        for pptr, prompt in _entries(exposure, "prompts", eptr):
            args = _names(prompt.get("arguments"))
            for mptr, message in _entries(prompt, "template", pptr):
                content = message.get("content")
                if not isinstance(content, str):
                    continue
                for name in template_names(content):
                    if name not in args:
                        ctx.report("prompt-argument-unknown", f"`{{{{{name}}}}}` is not an argument of prompt "
                                   f"`{prompt.get('name')}`", join(mptr, "content"),
                                   hint=_closest(name, args) or "declare it under `arguments`")


def _skills(ctx: _Ctx) -> None:
    siblings = {e["namespace"]: e for _, e in ctx.exposes
                if e.get("type") in ("rest", "mcp") and isinstance(e.get("namespace"), str)}
    for eptr, exposure in ctx.exposes:
        if exposure.get("type") != "skill":
            continue
        for sptr, skill in _entries(exposure, "skills", eptr):
            for tptr, tool in _entries(skill, "tools", sptr):
                # exactly one of from/instruction is a shape rule: structure reports it
                has_from, has_instruction = "from" in tool, "instruction" in tool
                if has_from and isinstance(tool.get("from"), dict):
                    _skill_from(ctx, join(tptr, "from"), tool["from"], siblings)
                if has_instruction and not has_from and "location" not in skill:
                    ctx.report("skill-instruction-without-location",
                               f"skill `{skill.get('name')}` needs a `location` for instruction files",
                               join(tptr, "instruction"), hint="add `location: file:///path/to/skill-dir`")


def _skill_from(ctx: _Ctx, pointer: str, source: dict[str, Any], siblings: dict[str, dict[str, Any]]) -> None:
    ns, action = _str(source.get("sourceNamespace")), _str(source.get("action"))
    if ns is None:
        return
    adapter = siblings.get(ns)
    if adapter is None:
        ctx.report("skill-source-unknown", f"`{ns}` is not a rest or mcp adapter of this capability",
                   join(pointer, "sourceNamespace"), hint=_closest(ns, siblings))
        return
    if action is None:
        return
    if adapter.get("type") == "mcp":
        actions = {n for t in _list_dicts(adapter.get("tools")) if (n := ctx.tool_name(t))}
    else:
        actions = {o["name"] for r in _list_dicts(adapter.get("resources"))
                   for o in _list_dicts(r.get("operations")) if isinstance(o.get("name"), str)}
    if action not in actions:
        what = "an MCP tool" if adapter.get("type") == "mcp" else "a REST operation"
        ctx.report("skill-action-unknown", f"`{action}` is not {what} of `{ns}`",
                   join(pointer, "action"), hint=_closest(action, actions))


def _list_dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _controls(ctx: _Ctx) -> None:
    controls = [(p, e) for p, e in ctx.exposes if e.get("type") == "control"]
    for ptr, _control in controls[1:]:
        ctx.report("control-port-singleton-and-unique", "a capability has at most one control adapter",
                   join(ptr, "type"), related=[join(controls[0][0], "type")])
    for ptr, control in controls:
        address = control.get("address")
        if isinstance(address, str) and address not in _LOOPBACK:
            ctx.report("control-address-localhost-warning",
                       f"the control port listens on `{address}`, beyond this machine", join(ptr, "address"),
                       hint="use localhost and reach it through a tunnel or a network policy")


def _paths(ctx: _Ctx) -> None:
    for aptr, adapter in ctx.consumes:
        base = adapter.get("baseUri")
        if isinstance(base, str) and base.endswith("/"):
            ctx.report("consumes-baseuri-no-trailing-slash", f"baseUri `{base}` ends with a slash",
                       join(aptr, "baseUri"), hint="resource paths are appended to it: drop the trailing slash")
        for rptr, res in _entries(adapter, "resources", aptr):
            if isinstance(res.get("path"), str) and "?" in res["path"]:
                ctx.report("consumed-resource-no-query-in-path", "a consumed resource path holds a query string",
                           join(rptr, "path"), hint="declare query values as inputParameters with `in: query`")
    for eptr, exposure in ctx.exposes:
        if exposure.get("type") != "rest":
            continue
        for rptr, res in _entries(exposure, "resources", eptr):
            path = res.get("path")
            if not isinstance(path, str):
                continue
            if len(path) > 1 and path.endswith("/"):
                ctx.report("rest-resource-path-no-trailing-slash", f"route `{path}` ends with a slash",
                           join(rptr, "path"))
            if "?" in path:
                ctx.report("rest-resource-path-no-query", f"route `{path}` holds a query string",
                           join(rptr, "path"), hint="declare query inputs as inputParameters with `in: query`")


def _addresses(ctx: _Ctx) -> None:
    for eptr, exposure in ctx.exposes:
        address = exposure.get("address")
        if exposure.get("type") in ("rest", "mcp", "skill") and isinstance(address, str) \
                and address.lower().endswith("example.com"):
            ctx.report("address-not-example", f"address `{address}` is a placeholder host", join(eptr, "address"))


def _oauth2(ctx: _Ctx) -> None:
    for eptr, exposure in ctx.exposes:
        auth = _dict(exposure.get("authentication"))
        if auth.get("type") != "oauth2":
            continue
        aptr = join(eptr, "authentication")
        server = auth.get("authorizationServerUri")
        if isinstance(server, str) and not server.startswith("https://"):
            ctx.report("oauth2-https-authserver", "the authorization server must be reached over https",
                       join(aptr, "authorizationServerUri"))
        resource = auth.get("resource")
        if isinstance(resource, str) and not resource.startswith("https://"):
            ctx.report("oauth2-resource-https", "the protected resource URI should be https",
                       join(aptr, "resource"))
        if not auth.get("scopes"):
            ctx.report("oauth2-scopes-defined", "no `scopes`: clients get no scope challenge or metadata",
                       join(aptr, "type"))


def _markdown(ctx: _Ctx) -> None:
    """Descriptions end up in HTML catalogs and agent UIs: no script tags, no eval()."""
    places: list[tuple[str, Any]] = []
    info = _dict(ctx.data.get("info"))
    places += [("/info/description", info.get("description")), ("/info/label", info.get("label"))]
    places += [(join(p, "description"), a.get("description")) for p, a in ctx.consumes]
    for eptr, exposure in ctx.exposes:
        places.append((join(eptr, "description"), exposure.get("description")))
        for key in ("resources", "tools", "skills"):
            for rptr, res in _entries(exposure, key, eptr):
                places.append((join(rptr, "description"), res.get("description")))
                for optr, op in _entries(res, "operations", rptr):
                    places.append((join(optr, "description"), op.get("description")))
    for ptr, text in places:
        if not isinstance(text, str):
            continue
        if "<script" in text.lower():
            ctx.report("no-script-tags-in-markdown", "descriptions must not contain <script> tags", ptr)
        if "eval(" in text:
            ctx.report("no-eval-in-markdown", "descriptions must not contain eval() calls", ptr)


def _duplicate_routes(ctx: _Ctx) -> None:
    """Within one REST exposure, the same route and method declared twice."""
    for eptr, exposure in ctx.exposes:
        if exposure.get("type") != "rest":
            continue
        seen: dict[tuple[str, ...], str] = {}
        for rptr, res in _entries(exposure, "resources", eptr):
            if not isinstance(res.get("path"), str):
                continue
            route = tuple(_segments(res["path"]))
            for optr, op in _entries(res, "operations", rptr):
                if not isinstance(op.get("method"), str):
                    continue
                key = (*route, "|", op["method"].upper())
                if key in seen:
                    ctx.report("rest-route-conflict", f"{op['method'].upper()} `{res['path']}` is declared twice",
                               join(optr, "method"), related=[seen[key]])
                else:
                    seen[key] = join(optr, "method")


# Order matters once: `_calls` records who calls each operation, which `_consumed_templates` reads.
_DOCUMENT_RULES: tuple[Rule, ...] = (
    _namespaces_unique, _tool_names, _calls, _refs, _forwards, _with_values, _consumed_templates,
    _exposed_templates, _output_values, _bare_bind_names, _steps, _jsonpaths, _formats, _semantics_self,
    _mcp, _skills, _controls, _paths, _addresses, _oauth2, _markdown, _duplicate_routes,
)


def check_rules(doc: Document) -> list[Diagnostic]:
    """Every semantic diagnostic of one document (``structure`` reports shape problems)."""
    if not isinstance(doc.data, dict):
        return []
    ctx = _Ctx(doc)
    for rule in _DOCUMENT_RULES:
        rule(ctx)
    return ctx.out


# --------------------------------------------------------------------------------------------------
# Across documents served together: endpoints
# --------------------------------------------------------------------------------------------------
#
# What one address:port can hold (how `serve` mounts exposures):
# * MCP (http), REST and skill exposures with the same address literal and port share one listener:
#   MCP at /mcp (the union of tools) and /mcp/<namespace>, skills at /skills, REST at its routes.
#   So tool names must be unique across those MCP exposures, MCP namespaces must differ, only one
#   skill catalog fits, and REST routes must not overlap each other, /mcp or /skills.
# * Two different address literals for the same port cannot share a listener: when they name the
#   same host (localhost vs 127.0.0.1) or one is a wildcard (0.0.0.0, ::) the second bind fails.
# * A control adapter never shares its port (Spectral control-port-singleton-and-unique compares
#   ports only, whatever the address).
# * stdio MCP exposures have no endpoint and are ignored here.


@dataclass(slots=True)
class _Endpoint:
    doc: Document
    pointer: str
    spec: dict[str, Any]
    kind: str
    address: str
    port: int
    _routes: list[tuple[str, str, list[str]]] | None = None
    _tools: list[tuple[str, str]] | None = None
    _tool_index: dict[str, str] | None = None

    @property
    def host(self) -> str:
        address = self.address.lower()
        return "*" if address in _WILDCARD else "loopback" if address in _LOOPBACK else address

    def overlaps(self, other: _Endpoint) -> bool:
        return self.port == other.port and (self.host == other.host or "*" in (self.host, other.host))

    def route_segments(self) -> list[tuple[str, str, list[str]]]:
        """(pointer, path, segments) of each route, computed once: every pair of endpoints reads them."""
        if self._routes is None:
            self._routes = [(join(rptr, "path"), res["path"], _segments(res["path"]))
                            for rptr, res in _entries(self.spec, "resources", self.pointer)
                            if isinstance(res.get("path"), str)]
        return self._routes

    def tools(self) -> list[tuple[str, str]]:
        """(pointer, name) of each tool, computed once."""
        if self._tools is None:
            self._tools = _tool_list(self)
        return self._tools

    def tool_index(self) -> dict[str, str]:
        """Tool name -> pointer of its name, computed once."""
        if self._tool_index is None:
            self._tool_index = {n: p for p, n in self.tools()}
        return self._tool_index


def _endpoints(docs: list[Document]) -> list[_Endpoint]:
    found: list[_Endpoint] = []
    for doc in docs:
        cap = _dict(doc.data.get("capability") if isinstance(doc.data, dict) else None)
        for ptr, exposure in _entries(cap, "exposes", "/capability"):
            kind = exposure.get("type")
            port = _port(exposure.get("port"))
            if kind not in ("mcp", "rest", "skill", "control") or port is None:
                continue
            if kind == "mcp" and exposure.get("transport", "http") != "http":
                continue
            default = "localhost" if kind == "control" else _DEFAULT_ADDRESS
            address = exposure.get("address") if isinstance(exposure.get("address"), str) else default
            found.append(_Endpoint(doc, ptr, exposure, kind, address, port))
    return found


def check_together(docs: list[Document]) -> list[Diagnostic]:
    """Conflicts between exposures of every capability served together (one document included)."""
    out: list[Diagnostic] = []
    by_port: dict[int, list[_Endpoint]] = {}
    for endpoint in _endpoints(docs):  # only exposures on one port can conflict
        by_port.setdefault(endpoint.port, []).append(endpoint)
    for endpoints in by_port.values():
        for i, later in enumerate(endpoints):
            for earlier in endpoints[:i]:
                out.extend(_pair(earlier, later))
    return out


def _report(at: _Endpoint, code: str, message: str, pointer: str, related: Location,
            hint: str | None = None, key: bool = False) -> Diagnostic:
    diag = at.doc.diag(code, message, pointer, severity=_RULES[code][0], hint=hint, key=key)
    return dataclasses.replace(diag, related=(related,))


def _pair(a: _Endpoint, b: _Endpoint) -> list[Diagnostic]:
    where = f"{b.address}:{b.port}"
    port_ptr = join(b.pointer, "port")
    if "control" in (a.kind, b.kind) and a.port == b.port:
        return [_report(b, "control-port-singleton-and-unique",
                        f"port {b.port} is already used by another exposure; a control port is never shared",
                        port_ptr, a.doc.locate(join(a.pointer, "port")))]
    if not a.overlaps(b):
        return []
    if a.address != b.address:
        return [_report(b, "address-port-conflict",
                        f"`{b.address}` and `{a.address}` both bind port {b.port} on the same host",
                        port_ptr, a.doc.locate(join(a.pointer, "port")),
                        hint=f"use the same address literal (`{a.address}`) to share the port")]
    if a.kind == b.kind == "skill":
        return [_report(b, "address-port-conflict", f"two skill catalogs cannot share /skills on {where}",
                        port_ptr, a.doc.locate(join(a.pointer, "port")), hint="give one of them another port")]
    if a.kind == b.kind == "mcp":
        return _mcp_pair(a, b, where)
    if a.kind == b.kind == "rest":
        return [d for d in (_route_pair(b, p, path, segments, a) for p, path, segments in b.route_segments()) if d]
    rest, other = (a, b) if a.kind == "rest" else (b, a)
    if rest.kind == "rest" and other.kind in ("mcp", "skill"):
        prefix = "mcp" if other.kind == "mcp" else "skills"
        return [_report(rest, "rest-route-conflict", f"route `{path}` collides with /{prefix} of the "
                        f"{other.kind} exposure on {where}", ptr, other.doc.locate(join(other.pointer, "port")))
                for ptr, path, segments in rest.route_segments() if segments[:1] == [prefix]]
    return []


def _mcp_pair(a: _Endpoint, b: _Endpoint, where: str) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    ns_a, ns_b = a.spec.get("namespace"), b.spec.get("namespace")
    if isinstance(ns_b, str) and ns_a == ns_b and a.doc is not b.doc:  # same doc: namespaces-unique
        out.append(_report(b, "address-port-conflict", f"two MCP exposures named `{ns_b}` on {where} "
                           f"would both be served at /mcp/{ns_b}", join(b.pointer, "namespace"),
                           a.doc.locate(join(a.pointer, "namespace"))))
    names_a = a.tool_index()
    for ptr, name in b.tools():
        if name in names_a:
            out.append(_report(b, "tool-name-duplicate", f"tool `{name}` is also served by exposure `{ns_a}` on "
                               f"{where}; /mcp serves the union of both", ptr, a.doc.locate(names_a[name]),
                               hint="rename one tool or move one exposure to another port"))
    return out


def _tool_list(e: _Endpoint) -> list[tuple[str, str]]:
    functions: dict[str, str] = {}
    cap = _dict(e.doc.data.get("capability"))
    for agg in _list_dicts(cap.get("aggregates")):
        for fn in _list_dicts(agg.get("functions")):
            if isinstance(agg.get("namespace"), str) and isinstance(fn.get("name"), str):
                functions[f"{agg['namespace']}.{fn['name']}"] = fn["name"]
    out = []
    for ptr, tool in _entries(e.spec, "tools", e.pointer):
        name = tool.get("name") if isinstance(tool.get("name"), str) else functions.get(str(tool.get("ref")))
        if name:
            out.append((join(ptr, "name"), name))
    return out


def _route_pair(b: _Endpoint, ptr: str, path: str, segments: list[str], a: _Endpoint) -> Diagnostic | None:
    for other_ptr, other, other_segments in a.route_segments():
        if _overlap(segments, other_segments):
            return _report(b, "rest-route-conflict", f"route `{path}` overlaps `{other}` of REST exposure "
                           f"`{a.spec.get('namespace')}` on {b.address}:{b.port}", ptr, a.doc.locate(other_ptr),
                           hint="two REST exposures on one address:port need disjoint routes")
    return None


def _segments(path: str) -> list[str]:
    """Route segments; a placeholder becomes `*`, the greedy `{path}` becomes `**`."""
    out = []
    for part in path.strip("/").split("/"):
        match = PATH_PLACEHOLDER.fullmatch(part)
        out.append(("**" if match.group(1) == "path" else "*") if match else part)
    return [s for s in out if s != ""]


def _overlap(a: list[str], b: list[str]) -> bool:
    """True when some concrete path matches both routes."""
    if not a or not b:
        return (not a and not b) or a[:1] == ["**"] or b[:1] == ["**"]
    if a[0] == "**" or b[0] == "**":
        return True
    if a[0] == "*" or b[0] == "*" or a[0] == b[0]:
        return _overlap(a[1:], b[1:])
    return False
