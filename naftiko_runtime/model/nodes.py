"""The typed model of a capability, consumed side: binds, consumers, operations, parameters, auth.

Every node is frozen and carries the JSON pointer it was read from (``pointer``), so rules can
locate what they report. Values that may hold ``{{templates}}`` are ``Value``s, compiled once.
Nodes compare by identity (``eq=False``): the runtime keys its caches on them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from naftiko_runtime.jsonpath import JsonPath
from naftiko_runtime.templates import Template, compile_template, format_value, render_native

EMPTY: Mapping[str, Any] = MappingProxyType({})


def freeze(value: Any) -> Any:
    """Spec data as read-only containers (mappings and tuples all the way down)."""
    if isinstance(value, Mapping):
        return MappingProxyType({str(k): freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


def plain(value: Any) -> Any:
    """Model trees (read-only mappings, tuples) -> plain JSON containers."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class Value:
    """A value from the spec as written, with its template compiled when it is text with ``{{``."""

    raw: Any
    pointer: str
    template: Template | None = None

    @classmethod
    def of(cls, raw: Any, pointer: str) -> Value:
        raw = freeze(raw)
        template = compile_template(raw) if isinstance(raw, str) and "{{" in raw else None
        return cls(raw, pointer, template)

    @property
    def names(self) -> tuple[str, ...]:
        """Template variables read at the top level (those a section may not rebind)."""
        if self.template is not None:
            return self.template.free_names
        return tuple(name for text in _texts(self.raw) for name in compile_template(text).free_names) \
            if isinstance(self.raw, Mapping | tuple) else ()

    def text(self, context: Mapping[str, Any]) -> str:
        if self.template is not None:
            return self.template.render(context)
        return format_value(self.raw)

    def native(self, context: Mapping[str, Any]) -> Any:
        """Rendered keeping JSON types where the author wrote a lone ``{{x}}`` (see ``render_native``)."""
        return render_native(self.raw, context) if self.template is not None or isinstance(
            self.raw, Mapping | tuple) else self.raw


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        if "{{" in value:
            yield value
    elif isinstance(value, Mapping):
        for key, child in value.items():
            yield from _texts(key)
            yield from _texts(child)
    elif isinstance(value, tuple):
        for child in value:
            yield from _texts(child)


@dataclass(frozen=True, slots=True, eq=False)
class Bind:
    """A ``binds`` entry: variable -> key in its source (the environment, or a file)."""

    namespace: str
    keys: Mapping[str, str]
    location: str | None
    base_dir: Path
    pointer: str
    implicit: bool = False  # made for `{{env.X}}` templates that no bind declares


@dataclass(frozen=True, slots=True, eq=False)
class Param:
    """A consumed input parameter (``in`` says where it goes on the request)."""

    name: str
    in_: str | None
    pointer: str
    type: str | None = None
    description: str | None = None
    required: bool = False
    value: Value | None = None
    pattern: str | None = None
    schema: Mapping[str, Any] = field(default_factory=lambda: EMPTY)  # extension: extra JSON Schema keywords


# Auth fields that name things rather than hold credentials: never treated as secrets.
NON_SECRET_FIELDS = frozenset({
    "type", "placement", "key", "tokenEndpoint", "scopes", "audience", "authorizationServerUri",
    "resource", "tokenValidation",
})


@dataclass(frozen=True, slots=True, eq=False)
class Auth:
    """An ``authentication`` block: its type and every other field compiled (templates over binds).

    The same object serves consumers (outbound) and exposures (inbound)."""

    type: str
    fields: Mapping[str, Value]
    pointer: str

    def get(self, name: str) -> Value | None:
        return self.fields.get(name)

    @property
    def token(self) -> Value | None:
        """The bearer token; the published dialect spells it ``value``."""
        return self.fields.get("token") or self.fields.get("value") if self.type == "bearer" else None

    def credentials(self) -> Iterator[tuple[str, Value]]:
        """Fields whose rendered value is a secret."""
        return ((k, v) for k, v in self.fields.items() if k not in NON_SECRET_FIELDS)


IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class Timeouts:
    """connect and read limits plus a total deadline over the whole exchange (retries included)."""

    connect: float = 5.0
    read: float = 30.0
    total: float = 30.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Which failed attempts are tried again, and how long to wait before each."""

    attempts: int = 3  # in all, the first included: 1 turns retries off
    backoff: float = 0.2  # the first backoff ceiling, doubled after each attempt
    max_backoff: float = 5.0
    statuses: frozenset[int] = frozenset({429, 502, 503, 504})
    retry_after_cap: float = 30.0  # a longer Retry-After is waited for this long at most
    methods: frozenset[str] = IDEMPOTENT_METHODS  # a request with any other method is sent once

    def ceiling(self, attempt: int) -> float:
        """The longest backoff after failed attempt number ``attempt`` (1-based)."""
        return min(self.max_backoff, self.backoff * 2 ** min(attempt - 1, 30))

    def delay(self, attempt: int, random: Callable[[], float]) -> float:
        """Full jitter: uniform in [0, ceiling), so clients that failed together do not retry together."""
        return self.ceiling(attempt) * random()


@dataclass(frozen=True, slots=True)
class Concurrency:
    """The bulkhead: at most ``limit`` requests in flight to one consumer; a request waits for a
    place at most ``max_wait`` seconds."""

    limit: int = 32
    max_wait: float = 10.0


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A token bucket: ``requests`` per ``per`` seconds (bursts up to ``requests``); a request waits
    for a token at most ``max_wait`` seconds."""

    requests: int
    per: float = 1.0
    max_wait: float = 5.0


@dataclass(frozen=True, slots=True)
class CircuitBreakerPolicy:
    """Open after ``failures`` consecutive failed attempts (5xx, timeouts, connection errors); after
    ``reset_after`` seconds one probe is let through."""

    enabled: bool = True
    failures: int = 5
    reset_after: float = 30.0


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """HTTP caching of GET answers marked cacheable. ``ttl`` caps the freshness the upstream grants;
    ``max_entries`` and ``max_bytes`` bound the consumer's cache (least recently used goes first)."""

    enabled: bool = False
    max_entries: int = 256
    max_bytes: int = 8 * 1024 * 1024
    ttl: float = 60.0


@dataclass(frozen=True, slots=True)
class Resilience:
    """How a consumer (or one of its operations) is protected from its upstream, and the upstream from us.

    ``concurrency``, ``rate_limit`` and ``circuit_breaker`` hold state per consumer, so only the
    consumer-level values count; the others apply per operation."""

    max_response_bytes: int = 10 * 1024 * 1024  # decoded, after decompression
    timeouts: Timeouts = Timeouts()
    retry: RetryPolicy = RetryPolicy()
    concurrency: Concurrency = Concurrency()
    rate_limit: RateLimit | None = None
    circuit_breaker: CircuitBreakerPolicy = CircuitBreakerPolicy()
    cache: CachePolicy = CachePolicy()


@dataclass(frozen=True, slots=True, eq=False)
class ConsumedOutput:
    """A named consumed output (``name: JSONPath``): what a step sees of the operation's answer."""

    name: str
    type: str | None
    path: JsonPath | None
    pointer: str
    expression: str | None = None  # the JSONPath as written (`path` is None when it does not parse)


@dataclass(frozen=True, slots=True, eq=False)
class Body:
    """A consumed request body: ``kind`` is ``raw`` (a template string) or the spec's body type;
    ``data`` is the template (text, or a JSON structure holding templates)."""

    kind: str
    data: Value

    @property
    def pointer(self) -> str:
        return self.data.pointer

    @property
    def names(self) -> tuple[str, ...]:
        return self.data.names


@dataclass(frozen=True, slots=True, eq=False)
class Pagination:
    """How a consumed operation pages its results (our extension): the runtime fetches the pages.

    ``type`` is ``cursor`` (the next token at ``next``, sent back in ``param``), ``offset`` (``param``
    advances by ``size``), ``page`` (``param`` counts pages from ``start``) or ``link`` (the
    ``Link: <...>; rel="next"`` header). ``items`` locates each page's items; ``mode`` is ``merge``
    (every page up to the caps, merged into one result) or ``page`` (one page and a continuation)."""

    type: str
    pointer: str
    items: JsonPath | None = None
    items_expression: str | None = None
    next: JsonPath | None = None
    next_expression: str | None = None
    param: str | None = None
    in_: str = "query"
    size: int | None = None
    size_param: str | None = None
    start: int = 0
    max_pages: int = 10
    max_items: int = 1000
    mode: str = "merge"


@dataclass(frozen=True, slots=True, eq=False)
class Operation:
    """One consumed HTTP operation, addressed as ``namespace.name``."""

    namespace: str
    name: str
    method: str
    path: str
    pointer: str
    resource: str = ""
    resource_pointer: str = ""
    description: str | None = None
    placeholders: tuple[str, ...] = ()
    params: tuple[Param, ...] = ()  # consumes-, resource- and operation-level, later wins by (name, in)
    body: Body | None = None
    output_raw_format: str | None = None
    output_schema: str | None = None
    outputs: tuple[ConsumedOutput, ...] = ()
    pagination: Pagination | None = None
    resilience: Resilience | None = None  # only when the operation declares its own (merged over its consumer's)
    output_media_type: str | None = None  # `outputMediaType`: the media type of its (binary) result
    max_binary_bytes: int | None = None  # `maxBinarySize`, in bytes

    @property
    def ref(self) -> str:
        return f"{self.namespace}.{self.name}"

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def feeds(self) -> frozenset[str]:
        """Every name a ``with`` key can feed: parameters, path placeholders, template names."""
        names = {p.name for p in self.params} | set(self.placeholders)
        for value in [p.value for p in self.params if p.value is not None]:
            names.update(value.names)
        if self.body is not None:
            names.update(self.body.names)
        from naftiko_runtime.model.refs import caller_value

        extra = {n.split(".", 1)[0] for n in names} | {v for n in names if (v := caller_value(n))}
        return frozenset(names | extra)


@dataclass(frozen=True, slots=True, eq=False)
class Consumer:
    """A consumed HTTP API (``consumes`` entry of ``type: http``)."""

    namespace: str
    base_uri: Value | None  # None when absent (structure reports it)
    pointer: str
    description: str | None = None
    authentication: Auth | None = None
    parameters: tuple[Param, ...] = ()
    headers: tuple[tuple[str, Value], ...] = ()  # our extension: sent on every request
    operations: Mapping[str, Operation] = field(default_factory=lambda: EMPTY)  # the first of each name
    declared: tuple[Operation, ...] = ()  # every operation as written, duplicates included
    resilience: Resilience = Resilience()

    @property
    def timeouts(self) -> Timeouts:
        return self.resilience.timeouts

    @property
    def retry(self) -> RetryPolicy:
        return self.resilience.retry

    def policy(self, op: Operation) -> Resilience:
        """What protects a call of ``op``: its own block when it declares one, else the consumer's; a
        binary operation's ``maxBinarySize`` lowers the response size limit."""
        policy = op.resilience if op.resilience is not None else self.resilience
        if op.max_binary_bytes is not None and op.max_binary_bytes < policy.max_response_bytes:
            return dataclasses.replace(policy, max_response_bytes=op.max_binary_bytes)
        return policy
