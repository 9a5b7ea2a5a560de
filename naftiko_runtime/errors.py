"""Every error the runtime reports, in one place.

Load time produces ``Diagnostic`` values (collected, never raised one by one; their codes live in
``codes``). Everything the package raises derives from ``NaftikoError``:

    NaftikoError
    ├─ SpecError(diagnostics)          a capability that cannot be served: every diagnostic found
    ├─ BindingError(missing)           start-up: bind variables that could not be resolved (names only)
    ├─ ConfigError                     start-up: a setting that cannot work (bad --upstream, port...)
    │   ├─ AuthConfigError             an inbound `authentication` that cannot be enforced
    │   └─ ConversionError(diagnostics) `naftiko convert`: a file with no form in the other dialect
    │   └─ SandboxStateError           a --sandbox-state file that cannot be read or written
    ├─ ServeError                      the exposures cannot be served as configured
    └─ InvocationError                 request time: a call failed; safe to show a client
        ├─ InputError(problems)        bad arguments: REST 400, MCP isError, before any upstream call
        ├─ UnavailableError            the runtime refuses the call (draining, overloaded, circuit open)
        │   └─ ShuttingDown            refused while draining, or cut at the grace limit
        ├─ UpstreamError(status)       the upstream answered non-2xx
        ├─ UpstreamTimeout             the upstream did not answer in time
        ├─ UpstreamUnavailable         connection refused, DNS failure, TLS failure...
        ├─ ResponseTooLarge            the upstream answer is over the size limit
        ├─ DecodeError                 the upstream body could not be read in its declared format
        └─ MappingError                outputs could not be mapped from the upstream body

Errors are never changed after they are raised: ``with_operation`` returns a copy naming the
operation when the raiser did not know it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Location:
    """Where a value sits: file, RFC 6901 JSON pointer, 1-based line and column."""

    file: str
    pointer: str = ""
    line: int = 1
    col: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    code: str
    severity: Severity
    message: str
    location: Location
    hint: str | None = None
    related: tuple[Location, ...] = field(default=())

    def __str__(self) -> str:
        text = f"{self.location}: {self.severity}[{self.code}] {self.message}"
        return f"{text} ({self.hint})" if self.hint else text

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.location.file,
            "line": self.location.line,
            "column": self.location.col,
            "pointer": self.location.pointer,
            "severity": str(self.severity),
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
        }


class NaftikoError(Exception):
    """Base of every error the runtime raises on purpose."""


class SpecError(NaftikoError):
    """A capability could not be loaded; carries every diagnostic found."""

    def __init__(self, diagnostics: list[Diagnostic] | tuple[Diagnostic, ...]) -> None:
        self.diagnostics = tuple(diagnostics)
        errors = [d for d in self.diagnostics if d.severity is Severity.ERROR] or list(self.diagnostics)
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"{errors[0]}{more}" if errors else "invalid capability")


class BindingError(NaftikoError):
    """Bind variables or keys that could not be resolved. Names only, never values."""

    def __init__(self, missing: list[str] | tuple[str, ...], detail: str = "") -> None:
        self.missing = tuple(missing)
        self.detail = detail
        names = ", ".join(self.missing)
        text = f"missing bind variables: {names}" if names else "bind variables could not be read"
        super().__init__(text + (f" ({detail})" if detail else ""))


class ConfigError(NaftikoError):
    """A start-up setting that cannot work; the message is safe to print."""


class ConversionError(ConfigError):
    """``naftiko convert`` cannot write the file in the other dialect; ``diagnostics`` say why when
    the file could not be read at all."""

    def __init__(self, message: str, diagnostics: list[Diagnostic] | None = None) -> None:
        super().__init__(message)
        self.diagnostics = diagnostics or []


class AuthConfigError(ConfigError):
    """An ``authentication`` object that cannot be enforced (unsupported type, empty or unbound secret)."""


class SandboxStateError(ConfigError):
    """A ``--sandbox-state`` file that is not sandbox state, or cannot be read or written."""


class ServeError(NaftikoError):
    """The exposures cannot be served as configured; the message is safe to print."""


class InvocationError(NaftikoError):
    """A tool or route call failed. ``str()`` is safe to show a client: no secrets."""

    kind = "invocation-error"
    http_status = 500

    def __init__(self, message: str, *, operation: str | None = None) -> None:
        self.message = message
        self.operation = operation
        super().__init__(message)

    def with_operation(self, operation: str | None) -> InvocationError:
        """This error naming ``operation``, unless it already names one (a copy: never mutated)."""
        if self.operation is not None or operation is None:
            return self
        clone = copy.copy(self)
        clone.operation = operation
        return clone

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"error": self.kind, "message": self.message}
        if self.operation:
            data["operation"] = self.operation
        return data


class InputError(InvocationError):
    """Arguments do not match the input schema. ``problems`` lists every one."""

    kind = "invalid-arguments"
    http_status = 400

    def __init__(self, problems: list[dict[str, Any]], *, operation: str | None = None) -> None:
        self.problems = problems
        summary = "; ".join(
            f"{p['pointer'] or '(root)'}: {p['message']}" if p.get("pointer") is not None else p["message"]
            for p in problems
        )
        super().__init__(f"invalid arguments: {summary}", operation=operation)

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "problems": self.problems}


class UnavailableError(InvocationError):
    """The runtime refused the call before sending anything (draining, overloaded, circuit open)."""

    kind = "unavailable"
    http_status = 503

    def __init__(self, message: str, *, operation: str | None = None, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message, operation=operation)


class ShuttingDown(UnavailableError):
    """The server is going away: the call was refused while draining or cut at the grace limit. Not
    a failure of the tool, so MCP answers it as a JSON-RPC error (REST: 503 with Retry-After)."""


class UpstreamError(InvocationError):
    """The upstream answered with a non-2xx status."""

    kind = "upstream-error"
    http_status = 502

    def __init__(
        self, status: int, upstream_message: str, *, operation: str | None = None, body: Any = None
    ) -> None:
        self.status = status
        self.upstream_message = upstream_message
        self.body = body
        text = f"{operation or 'upstream'} failed with HTTP {status}"
        super().__init__(f"{text}: {upstream_message}" if upstream_message else text, operation=operation)

    def with_operation(self, operation: str | None) -> InvocationError:
        if self.operation is not None or operation is None:
            return self
        return UpstreamError(self.status, self.upstream_message, operation=operation, body=self.body)

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "status": self.status}


class UpstreamTimeout(InvocationError):
    kind = "upstream-timeout"
    http_status = 504


class UpstreamUnavailable(InvocationError):
    kind = "upstream-unavailable"
    http_status = 502


class ResponseTooLarge(InvocationError):
    kind = "response-too-large"
    http_status = 502


class DecodeError(InvocationError):
    kind = "undecodable-response"
    http_status = 502


class MappingError(InvocationError):
    kind = "mapping-error"
    http_status = 502
