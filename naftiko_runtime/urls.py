"""What makes a usable upstream URL: the one check for a spec's ``baseUri`` (once its templates are
filled), a ``--upstream`` override and a base URI bound at start-up, so none fails later at connect.

Python's ``urlsplit`` accepts a port past 65535 until ``.port`` is read, and a space in a host name
always; the HTTP client then fails with an ``OverflowError`` or a confusing ``InvalidURL`` mid-call.
"""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["http_url_problem"]


def http_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be an upstream's base URL (a phrase to follow the URL), or None: it must
    be absolute http(s) (any letter case), hold no control character, name a host with no space
    and give a port, if any, as digits from 1 to 65535."""
    try:
        parts = urlsplit(url)
    except ValueError:  # an unclosed `[` of an IPv6 address
        return "is not a valid URL (an unclosed `[`?)"
    if parts.scheme.lower() not in ("http", "https") or not url[len(parts.scheme):].startswith("://"):
        return "is not an absolute http(s) URL"
    if any(not c.isprintable() for c in url):  # urlsplit drops tabs and newlines without a word
        return "holds a control character"
    if any(c.isspace() for c in parts.netloc):  # a path's spaces are percent-encoded on the way
        return "has a space in its host"
    if not parts.hostname:
        return "names no host"
    host_port = parts.netloc.rpartition("@")[2]
    after = host_port.rpartition("]")[2] if host_port.startswith("[") else ""
    if after and not after.startswith(":"):
        return "is not a valid URL (text after the `]` of its address)"
    try:
        port = parts.port  # digits only, at most 65535; `h:80:90` and `h:+80` fail here
    except ValueError:
        port = -1
    if port is not None and not 1 <= port <= 65535:  # the port itself is not quoted: a bind may fill it
        return "has a port that is not a number from 1 to 65535"
    return None
