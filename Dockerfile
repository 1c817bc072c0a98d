# syntax=docker/dockerfile:1
# One image for all seven services: `trader serve <service>` picks one (see docker-compose.yml).

# --- build: wheels for the project and its dependencies ---------------------------------------
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY trader ./trader
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --upgrade pip wheel \
    && /opt/venv/bin/pip install .

# --- runtime: the virtualenv, the operator scripts and config, no compilers --------------------
FROM python:3.11-slim-bookworm AS runtime
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH \
    HOST=0.0.0.0 \
    DATA_DIR=/app/data \
    LOG_DIR=/app/logs \
    BACKUP_DIR=/app/backups \
    EXPORT_DIR=/app/exports
# postgresql-client: the guide's psql/pg_dump commands and the backup scripts run inside too.
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system trader \
    && useradd --system --gid trader --home-dir /app --shell /usr/sbin/nologin trader
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=trader:trader scripts ./scripts
COPY --chown=trader:trader config ./config
RUN mkdir -p data logs backups exports && chown -R trader:trader /app
USER trader
EXPOSE 8001 8002 8003 8004 8005 8006 8007
# SERVICE_PORT is set per service by compose; the default checks the maintenance service.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD curl -fsS "http://127.0.0.1:${SERVICE_PORT:-8007}/health" || exit 1
ENTRYPOINT ["trader"]
CMD ["up"]
