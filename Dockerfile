# syntax=docker/dockerfile:1
# Build stage: install the router and its dependencies into a virtualenv.
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m venv /venv \
 && /venv/bin/pip install --no-cache-dir --disable-pip-version-check .

# Runtime stage: the virtualenv only, run as an unprivileged user.
FROM python:3.12-slim
RUN useradd --system --uid 10001 --user-group --home-dir /data --no-create-home router \
 && mkdir -p /data/claude \
 && chown -R router:router /data
COPY --from=build /venv /venv
ENV PATH=/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DATA_DIR=/data \
    CLAUDE_CODE_HOME=/data/claude \
    ROUTER_HOST=0.0.0.0 \
    ROUTER_PORT=8080
USER router
WORKDIR /data
VOLUME ["/data"]
# `docker run --ulimit nofile=65536:65536` (compose sets it): the router raises its soft limit to
# the hard one at start and warns when it is below what MAX_CLIENT_CONNECTIONS and
# UPSTREAM_MAX_CONNECTIONS need.
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD python -c "import os,sys,urllib.request; u='http://127.0.0.1:%s/health' % os.environ.get('ROUTER_PORT','8080'); sys.exit(0 if urllib.request.urlopen(u, timeout=2).status == 200 else 1)"
ENTRYPOINT ["link-assistant-router"]
CMD ["serve"]
