"""Which spec a document is written in, and its normalisation into the alpha2 shape the model reads:
version and dialect detection, 0.5 and Ikanos rewriting, load-time ``<<env.NAME>>`` templates, and
fields used under a version that does not define them (or that this runtime does not run)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from naftiko_runtime import ikanos
from naftiko_runtime.codes import diagnostic
from naftiko_runtime.errors import Severity
from naftiko_runtime.load.document import Document, Origin
from naftiko_runtime.source import join

SUPPORTED_VERSIONS = ("0.5", "1.0.0-alpha1", "1.0.0-alpha2", "1.0.0-alpha3")
LEGACY_VERSIONS = ("0.2", "0.3", "0.4")
CURRENT_VERSION = "1.0.0-alpha2"


# Fields that appeared in 1.0.0-alpha2: (JSON pointer pattern with * wildcards, description).
_ALPHA2_FEATURES = (
    ("/capability/exposes/*/type=control", "the control adapter (`type: control`)"),
    ("/capability/aggregates", "aggregates"),
    ("/capability/exposes/*/tools/*/ref", "`ref` to an aggregate function"),
    ("/capability/exposes/*/tools/*/hints", "tool `hints`"),
    ("/capability/exposes/*/resources/*/operations/*/ref", "`ref` to an aggregate function"),
)
_ORDER = {v: i for i, v in enumerate(SUPPORTED_VERSIONS)}


def detect_version(doc: Document, data: dict[str, Any]) -> bool:
    if "ikanos" in data:
        return _detect_ikanos(doc, data)
    if "naftiko" not in data:
        doc.diagnostics.append(doc.diag(
            "missing-version", "the document has no `naftiko` key declaring its spec version", "",
            hint=f"add `naftiko: \"{CURRENT_VERSION}\"` as the first line"))
        return False
    declared = data["naftiko"]
    if declared is None or declared == "":
        doc.diagnostics.append(doc.diag(
            "missing-version", "the `naftiko` key has no version", "/naftiko", key=True,
            hint=f"write `naftiko: \"{CURRENT_VERSION}\"`"))
        return False
    if isinstance(declared, dict):
        doc.diagnostics.append(doc.diag(
            "legacy-catalog",
            "this is the pre-engine capability catalog format (`naftiko: {schema: ...}`), which describes "
            "but cannot run a capability; it is not supported", "/naftiko",
            hint=f"rewrite it as a `naftiko: \"{CURRENT_VERSION}\"` capability"))
        return False
    version = str(declared)
    if version in LEGACY_VERSIONS:
        doc.diagnostics.append(doc.diag(
            "unsupported-version",
            f"naftiko {version} is a legacy version this runtime does not run (supported: "
            f"{', '.join(SUPPORTED_VERSIONS)})", "/naftiko",
            hint=f"migrate to {CURRENT_VERSION}: `type: api` became `type: rest`, `externalRefs` became `binds`"))
        doc.version = version  # still checked against today's structure, to point at what to change
        return True
    if version not in SUPPORTED_VERSIONS:
        doc.diagnostics.append(doc.diag(
            "unsupported-version",
            f"unknown naftiko version '{version}' (supported: {', '.join(SUPPORTED_VERSIONS)})", "/naftiko",
            hint=closest(version, SUPPORTED_VERSIONS)))
        return False
    doc.version = version
    return True


def _detect_ikanos(doc: Document, data: dict[str, Any]) -> bool:
    declared = data["ikanos"]
    if "naftiko" in data:
        doc.diagnostics.append(doc.diag(
            "ikanos-document", "a document declares either `naftiko` or `ikanos`, not both", "/naftiko", key=True,
            hint="keep the one whose shape the file uses"))
        return False
    if str(declared) not in ikanos.VERSIONS:
        doc.diagnostics.append(doc.diag(
            "ikanos-document", f"ikanos version '{declared}' is not one this runtime reads (it reads "
            f"{', '.join(ikanos.VERSIONS)})", "/ikanos", hint=f"declare `ikanos: \"{ikanos.CURRENT}\"`"))
        return False
    doc.dialect, doc.written_version = "ikanos", str(declared)
    doc.version = ikanos.NAFTIKO_VERSION
    return True


def closest(value: str, choices: Iterable[str]) -> str | None:
    import difflib

    match = difflib.get_close_matches(value, list(choices), n=1)
    return f"did you mean `{match[0]}`?" if match else None


def render_templates(doc: Document, data: dict[str, Any], env: Mapping[str, str] | None,
                      strict_env: bool) -> dict[str, Any]:
    """Render ``<<env.NAME>>``. Missing names are errors when serving, warnings when validating."""
    if "<<" not in doc.source.text:
        return data
    from naftiko_runtime.loadtime import render_load_time

    rendered, problems = render_load_time(
        data, os.environ if env is None else env, typed=lambda pointer: pointer in doc.source.plain)
    _collect_templated(data, "", doc.templated)
    if strict_env:  # serving: rendered values are known and checked like any other; only failures stay exempt
        doc.templated.intersection_update(problem.pointer for problem in problems)
    for problem in problems:
        severity = Severity.ERROR if strict_env or problem.name is None else Severity.WARNING
        hint = f"set {problem.name} or give a default: <<env.{problem.name} | default('...')>>" \
            if problem.name else None
        doc.diagnostics.append(doc.diag("load-time-template", problem.message, problem.pointer,
                                        severity=severity, hint=hint))
    return rendered if isinstance(rendered, dict) else data


def _collect_templated(node: Any, pointer: str, out: set[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            _collect_templated(value, join(pointer, key), out)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _collect_templated(value, join(pointer, i), out)
    elif isinstance(node, str) and "<<" in node and ">>" in node:
        out.add(pointer)


def normalise(doc: Document, data: dict[str, Any]) -> dict[str, Any]:
    """Bring 0.5, alpha1 and Ikanos documents into the alpha2 shape (the model reads only that)."""
    if doc.dialect == "ikanos":
        return _normalise_ikanos(doc, data)
    data = dict(data)
    data["naftiko"] = doc.version  # `naftiko: 0.5` written unquoted is a float
    refs = data.get("externalRefs")
    if doc.version != "0.5" or not isinstance(refs, list):
        return data
    del data["externalRefs"]
    binds = list(data.get("binds") or []) if isinstance(data.get("binds"), list) else []
    for j, ref in enumerate(refs):
        if isinstance(ref, dict):
            bind = {"namespace": ref.get("name"), "keys": ref.get("keys") or {}}
            if ref.get("description"):
                bind["description"] = ref["description"]
            if ref.get("uri"):
                bind["location"] = ref["uri"]
            # Diagnostics about the bind point at the externalRefs entry it came from.
            doc.origins.append(Origin(join("/binds", len(binds)), doc.source, join("/externalRefs", j)))
            binds.append(bind)
    data["binds"] = binds
    return data


def _normalise_ikanos(doc: Document, data: dict[str, Any]) -> dict[str, Any]:
    normalised, doc.pointers, problems = ikanos.to_naftiko(data)
    for problem in problems:
        severity = Severity.WARNING if problem.code == "unknown-field" else None
        loc = doc.source.locate(problem.pointer, key=problem.key)
        doc.diagnostics.append(diagnostic(problem.code, problem.message, loc, severity=severity))
    return normalised


def check_not_run(doc: Document) -> None:
    """Ikanos fields this runtime accepts but does not act on: said once, where they are written."""
    capability = doc.data.get("capability")
    parents = (("", doc.data), ("/capability", capability))
    sections = [(join(prefix, name), parent.get(name)) for prefix, parent in parents
                if isinstance(parent, dict) for name in ("consumes", "exposes")]
    for pointer, entries in sections:
        for i, entry in enumerate(entries if isinstance(entries, list) else []):
            if not isinstance(entry, dict):
                continue
            here = join(pointer, i)
            tunnel = entry.get("tunnel")
            if "tunnel" in entry:
                direct = isinstance(tunnel, dict) and tunnel.get("fallback") == "direct"
                doc.diagnostics.append(doc.diag(
                    "feature-not-run", "tunnels (OpenZiti) are not run by this runtime: requests "
                    + ("go directly to `baseUri` (the tunnel's `fallback: direct`)" if direct else "cannot reach "
                       "the API as written"), join(here, "tunnel"), key=True,
                    severity=Severity.WARNING if direct else Severity.ERROR,
                    hint="make `baseUri` reachable without the tunnel, or run the reference engine"))
            for name in ("ttlMs", "cacheScope"):
                if name in entry and entry.get("type") == "mcp":
                    doc.diagnostics.append(doc.diag(
                        "feature-not-run", f"`{name}` (an MCP 2026-07-28 cache hint) is accepted but not sent to "
                        "clients", join(here, name), key=True))


def check_version_features(doc: Document) -> None:
    if doc.version not in _ORDER or _ORDER[doc.version] >= _ORDER["1.0.0-alpha2"]:
        return
    for pattern, what in _ALPHA2_FEATURES:
        for pointer in _match(doc.data, pattern.split("/")[1:], ""):
            doc.diagnostics.append(doc.diag(
                "feature-not-in-version", f"{what} needs naftiko 1.0.0-alpha2 or later, "
                f"but this document declares {doc.version}", pointer, key=True,
                hint=f"declare `naftiko: \"{CURRENT_VERSION}\"`"))


def _match(node: Any, parts: list[str], pointer: str) -> Iterable[str]:
    if not parts:
        yield pointer
        return
    head, rest = parts[0], parts[1:]
    if "=" in head:  # `type=control`: the parent holds key type with that value
        key, value = head.split("=", 1)
        if isinstance(node, dict) and node.get(key) == value:
            yield join(pointer, key)
        return
    if head == "*":
        items = enumerate(node) if isinstance(node, list) else []
        for i, child in items:
            yield from _match(child, rest, join(pointer, i))
    elif isinstance(node, dict) and head in node:
        yield from _match(node[head], rest, join(pointer, head))
