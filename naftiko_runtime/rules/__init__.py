"""Stage 5, rules: semantic diagnostics, read from the model (structure checks the shape).

Every ``call``/``ref``/``forward`` names something that exists, every value a consumed request
needs has a source, nothing unresolved can reach an upstream, names are unique where clients need
them to be, templates name variables that exist, and exposures served together can share their
address:port. Each rule is a small function over a ``Context``; codes are in ``codes``.
"""

from __future__ import annotations

from naftiko_runtime.errors import Diagnostic
from naftiko_runtime.load import Document
from naftiko_runtime.model import Capability
from naftiko_runtime.rules import exposures, names, references, schemas, steps, templates
from naftiko_runtime.rules.context import Context
from naftiko_runtime.rules.together import check_together

__all__ = ["check_rules", "check_together"]

# Order matters once: `references` records who calls each operation, which `templates` reads.
_RULES = (
    names.namespaces_unique, names.tool_names, names.duplicates, references.calls, references.refs,
    references.forwards, references.with_values, templates.consumed, templates.exposed, templates.outputs,
    templates.env_variables, templates.bare_bind_names, steps.steps, steps.jsonpaths, steps.formats,
    steps.semantics, schemas.schemas, exposures.base_uris, exposures.per_api_limits, exposures.mcp,
    exposures.skills, exposures.controls, exposures.paths, exposures.addresses, exposures.oauth2,
    exposures.markdown, exposures.duplicate_routes,
)


def check_rules(doc: Document, capability: Capability) -> list[Diagnostic]:
    """Every semantic diagnostic of one document."""
    if not isinstance(doc.data, dict):
        return []
    ctx = Context(doc, capability)
    for rule in _RULES:
        rule(ctx)
    return ctx.out
