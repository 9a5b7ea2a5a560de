"""Stage 6, consume: a consumed operation + arguments -> HTTP request -> response -> JSON tree.

The only package that imports the HTTP client for requests. ``HttpConsumer`` is the entry point;
``request`` builds requests (pure), ``auth`` authenticates them, ``messages`` explains failures
without leaking secrets.
"""

from naftiko_runtime.consume.http import HttpConsumer, RetryPolicy, Timeouts, UpstreamResponse

__all__ = ["HttpConsumer", "RetryPolicy", "Timeouts", "UpstreamResponse"]
