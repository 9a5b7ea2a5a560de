# Container image of the naftiko runtime. Build: docker build -t naftiko:0.1.0 .
# Run (no token, no network): docker run --rm -p 9090:9090 naftiko:0.1.0 /app/capabilities --sandbox
# deploy/README.md has the rest (secrets, allowed hosts, Kubernetes).

# uv only installs; it does not ship in the runtime image.
FROM ghcr.io/astral-sh/uv:0.13.0 AS uv

# The builder uses the runtime's base image, so the interpreter the virtual environment points to
# (/usr/local/bin/python3) is the same file in both stages.
FROM python:3.11.17-slim-trixie AS builder
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    VIRTUAL_ENV=/opt/venv
WORKDIR /src
RUN uv venv --python /usr/local/bin/python3 /opt/venv
# Dependencies first, at the exact versions the tests passed with (there is no uv.lock): this layer
# is rebuilt only when pyproject.toml or constraints.txt change, not on every source edit.
COPY pyproject.toml constraints.txt ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv pip install --constraints constraints.txt --requirements pyproject.toml
COPY README.md ./
COPY naftiko_runtime ./naftiko_runtime
RUN --mount=type=cache,target=/root/.cache/uv \
    uv pip install --constraints constraints.txt --no-deps .

FROM python:3.11.17-slim-trixie AS runtime
LABEL org.opencontainers.image.title="naftiko" \
      org.opencontainers.image.description="Serves declarative Naftiko capabilities as MCP tools and REST routes" \
      org.opencontainers.image.licenses="Apache-2.0"
# A fixed numeric UID/GID, so Kubernetes' runAsNonRoot can check it and runAsUser can name it.
RUN groupadd --system --gid 10001 naftiko \
 && useradd --system --no-log-init --uid 10001 --gid 10001 \
      --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin naftiko
COPY --from=builder /opt/venv /opt/venv
# Owned by root and read-only for the server; mount another folder here to serve other capabilities.
COPY capabilities/ /app/capabilities/
# Bytecode was compiled at install time; writing more would fail on a read-only root filesystem.
# NAFTIKO_ADDRESS: listen on every interface, as a published port needs. Extra Host names to accept
# (DNS-rebinding protection) come from NAFTIKO_ALLOWED_HOSTS at run time, comma-separated.
ENV PATH="/opt/venv/bin:$PATH" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    NAFTIKO_ADDRESS=0.0.0.0
WORKDIR /app
USER 10001:10001
# The bundled capability's MCP port (also where /health/* and, with --metrics, /metrics answer).
EXPOSE 9090
# The standard library only (slim images have no curl). Proxies are bypassed: HTTP(S)_PROXY set for
# upstream calls must not divert the check. NAFTIKO_PORT, when set, is the port every exposure uses.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request as r; r.build_opener(r.ProxyHandler({})).open('http://127.0.0.1:%s/health/ready' % (os.environ.get('NAFTIKO_PORT') or '9090'), timeout=4)"]
ENTRYPOINT ["naftiko", "serve"]
CMD ["/app/capabilities"]
