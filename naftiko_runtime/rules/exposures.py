"""Exposures: MCP specifics, skills, the control port, paths, addresses, OAuth2 and descriptions."""

from __future__ import annotations

import re

from naftiko_runtime.errors import Severity
from naftiko_runtime.model import McpExposure, RestExposure, SkillExposure, Unit
from naftiko_runtime.model.listeners import LOOPBACK, segments
from naftiko_runtime.model.refs import placeholders
from naftiko_runtime.rules.context import Context, closest
from naftiko_runtime.source import join
from naftiko_runtime.urls import http_url_problem


def mcp(ctx: Context) -> None:
    for exposure in ctx.cap.mcp:
        # (stdio with a `port` is a shape problem: structure reports it as schema-conflict)
        if exposure.transport == "stdio" and exposure.authentication is not None:
            ctx.report("mcp-auth-stdio-conflict", "stdio MCP servers do not run the HTTP authorization "
                       "flow; `authentication` is ignored", join(exposure.pointer, "authentication"), key=True)
        for resource in exposure.resources:
            if resource.location is not None and placeholders(resource.uri):
                ctx.report("resource-template-static", f"static resource uri `{resource.uri}` has a `{{param}}` "
                           "template; only call or steps resources can be templates", join(resource.pointer, "uri"))
        for prompt in exposure.prompts:
            arguments = {a.name for a in prompt.inputs}
            for message in prompt.messages:
                for name in message.content.free_names:
                    if name not in arguments:
                        ctx.report("prompt-argument-unknown", f"`{{{{{name}}}}}` is not an argument of prompt "
                                   f"`{prompt.name}`", join(message.pointer, "content"),
                                   hint=closest(name, arguments) or "declare it under `arguments`")


def skills(ctx: Context) -> None:
    served: list[McpExposure | RestExposure] = [*ctx.cap.mcp, *ctx.cap.rest]
    siblings = {e.namespace: e for e in served}
    for exposure in ctx.cap.exposures:
        if not isinstance(exposure, SkillExposure):
            continue
        for skill in exposure.skills:
            for tool in skill.tools:
                source = join(tool.pointer, "from")
                if tool.source is not None:
                    _skill_from(ctx, source, tool.source, tool.action, tool.target, siblings)
                elif tool.instruction is not None and tool.action is None and skill.location is None:
                    ctx.report("skill-instruction-without-location",
                               f"skill `{skill.name}` needs a `location` for instruction files",
                               join(tool.pointer, "instruction"))


def _skill_from(ctx: Context, pointer: str, namespace: str, action: str | None, target: Unit | None,
                siblings: dict[str, McpExposure | RestExposure]) -> None:
    adapter = siblings.get(namespace)
    if adapter is None:
        ctx.report("skill-source-unknown", f"`{namespace}` is not a rest or mcp adapter of this capability",
                   join(pointer, "sourceNamespace"), hint=closest(namespace, siblings))
        return
    if action is None or target is not None:
        return
    if isinstance(adapter, McpExposure):
        actions, what = {t.name for t in adapter.tools}, "an MCP tool"
    else:
        actions = {r.declared_name for res in adapter.resources for r in res.routes if r.declared_name}
        what = "a REST operation"
    ctx.report("skill-action-unknown", f"`{action}` is not {what} of `{namespace}`", join(pointer, "action"),
               hint=closest(action, actions))


def controls(ctx: Context) -> None:
    found = ctx.cap.controls
    for control in found[1:]:
        ctx.report("control-port-singleton-and-unique", "a capability has at most one control adapter",
                   join(control.pointer, "type"), related=[join(found[0].pointer, "type")])
    for control in found:
        if control.address is not None and control.address not in LOOPBACK:
            ctx.report("control-address-localhost-warning",
                       f"the control port listens on `{control.address}`, beyond this machine",
                       join(control.pointer, "address"))


_TEMPLATE = re.compile(r"\{\{.*?\}\}")


def base_uris(ctx: Context) -> None:
    """Where a consumer's calls go must be a real URL: empty, or with `{server}`-style placeholders
    (OpenAPI server variables) that nothing fills, there is no upstream to call."""
    for consumer in ctx.cap.consumers.values():
        if consumer.base_uri is None:
            continue
        raw = consumer.base_uri.raw
        text = _TEMPLATE.sub("1", raw)  # a value a bind may give, fit for a host and for a port alike
        if not raw.strip():
            message = "the baseUri is empty: there is no upstream to call"
        elif "{" in text:
            names = ", ".join(f"`{{{n}}}`" for n in placeholders(text))
            message = f"baseUri `{raw}` holds placeholders that nothing fills ({names})"
        elif problem := http_url_problem(text):
            message = f"baseUri `{raw}` {problem}"
        else:
            continue
        ctx.report("baseuri-invalid", message, consumer.base_uri.pointer)


def per_api_limits(ctx: Context) -> None:
    """Concurrency, rate limit, circuit breaker and cache sizes hold state per consumed API: an
    operation's own values for them are not used, so they are reported rather than ignored silently."""
    for consumer in ctx.cap.consumers.values():
        api = consumer.resilience
        for op in consumer.declared:
            own = op.resilience
            if own is None:
                continue
            ignored = [name for name, same in (
                ("concurrency", own.concurrency == api.concurrency), ("rateLimit", own.rate_limit == api.rate_limit),
                ("circuitBreaker", own.circuit_breaker == api.circuit_breaker),
                ("cache.maxEntries", own.cache.max_entries == api.cache.max_entries),
                ("cache.maxBytes", own.cache.max_bytes == api.cache.max_bytes)) if not same]
            if ignored:
                fields = ", ".join(f"`{n}`" for n in ignored)
                ctx.report("resilience-per-api", f"`{op.ref}` sets {fields}, kept per API: the settings of "
                           f"`{consumer.namespace}` apply instead", join(op.pointer, "resilience"), key=True,
                           hint=f"move {fields} to the `resilience` block of `{consumer.namespace}`")


def paths(ctx: Context) -> None:
    for consumer in ctx.cap.consumers.values():
        base = consumer.base_uri.raw if consumer.base_uri is not None else None
        if isinstance(base, str) and base.endswith("/"):
            ctx.report("consumes-baseuri-no-trailing-slash", f"baseUri `{base}` ends with a slash",
                       join(consumer.pointer, "baseUri"))
        resources = {op.resource_pointer: op.path for op in consumer.declared}
        for pointer, path in resources.items():
            if "?" in path:
                ctx.report("consumed-resource-no-query-in-path", "a consumed resource path holds a query string",
                           join(pointer, "path"))
    for exposure in ctx.cap.rest:
        for resource in exposure.resources:
            if len(resource.path) > 1 and resource.path.endswith("/"):
                ctx.report("rest-resource-path-no-trailing-slash", f"route `{resource.path}` ends with a slash",
                           join(resource.pointer, "path"))
            if "?" in resource.path:
                ctx.report("rest-resource-path-no-query", f"route `{resource.path}` holds a query string",
                           join(resource.pointer, "path"))


def addresses(ctx: Context) -> None:
    for exposure in ctx.cap.exposures:
        address = exposure.address
        if exposure.type in ("rest", "mcp", "skill") and address and address.lower().endswith("example.com"):
            ctx.report("address-not-example", f"address `{address}` is a placeholder host",
                       join(exposure.pointer, "address"))


def oauth2(ctx: Context) -> None:
    for exposure in ctx.cap.exposures:
        auth = exposure.authentication
        if auth is None or auth.type != "oauth2":
            continue
        server, resource, scopes = (auth.get(k) for k in ("authorizationServerUri", "resource", "scopes"))
        if server is not None and isinstance(server.raw, str) and not server.raw.startswith("https://"):
            if _loopback(server.raw):  # a local test server (OAuth 2.1 allows http on loopback): works
                ctx.report("oauth2-https-authserver", "the authorization server is reached over plain http; "
                           "acceptable on this machine only", server.pointer, severity=Severity.WARNING)
            else:
                ctx.report("oauth2-https-authserver", "the authorization server must be reached over https",
                           server.pointer)
        if resource is not None and isinstance(resource.raw, str) and not resource.raw.startswith("https://"):
            ctx.report("oauth2-resource-https", "the protected resource URI should be https", resource.pointer)
        if scopes is None or not scopes.raw:
            ctx.report("oauth2-scopes-defined", "no `scopes`: clients get no scope challenge or metadata",
                       join(auth.pointer, "type"))


def _loopback(uri: str) -> bool:
    from urllib.parse import urlsplit

    try:
        host = (urlsplit(uri).hostname or "").lower()
    except ValueError:
        return False
    return uri.startswith("http://") and (host == "localhost" or host.startswith("127.") or host == "::1")


def markdown(ctx: Context) -> None:
    """Descriptions end up in HTML catalogs and agent UIs: no script tags, no eval()."""
    cap = ctx.cap
    places: list[tuple[str, str | None]] = [("/info/description", cap.description), ("/info/label", cap.label)]
    places += [(join(c.pointer, "description"), c.description) for c in cap.consumers.values()]
    for exposure in cap.exposures:
        places.append((join(exposure.pointer, "description"), exposure.description))
        if isinstance(exposure, McpExposure):
            units: list[Unit] = [*exposure.tools, *exposure.resources]
            places += [(join(u.pointer, "description"), u.description) for u in units]
        elif isinstance(exposure, RestExposure):
            for resource in exposure.resources:
                places.append((join(resource.pointer, "description"), resource.description))
                places += [(join(r.pointer, "description"), r.description) for r in resource.routes]
        elif isinstance(exposure, SkillExposure):
            places += [(join(s.pointer, "description"), s.description) for s in exposure.skills]
    for pointer, text in places:
        if not text:
            continue
        if "<script" in text.lower():
            ctx.report("no-script-tags-in-markdown", "descriptions must not contain <script> tags", pointer)
        if "eval(" in text:
            ctx.report("no-eval-in-markdown", "descriptions must not contain eval() calls", pointer)


def duplicate_routes(ctx: Context) -> None:
    """Within one REST exposure, the same route and method declared twice."""
    for exposure in ctx.cap.rest:
        seen: dict[tuple[str, ...], str] = {}
        for resource in exposure.resources:
            route = tuple(segments(resource.path))
            for op in resource.routes:
                key = (*route, "|", op.method)
                pointer = join(op.pointer, "method")
                if key in seen:
                    ctx.report("rest-route-conflict", f"{op.method} `{resource.path}` is declared twice", pointer,
                               related=[seen[key]])
                else:
                    seen[key] = pointer
