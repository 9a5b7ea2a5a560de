"""Adapters that expose capabilities: MCP (``mcp``), REST (``rest``), inbound auth (``auth``) and the
listener/lifecycle layer (``server``).

Nothing is imported here, so ``expose.auth`` can be used without loading the MCP SDK.
"""
