# One image for every Procfile process: `docker run IMAGE web` (the default), `worker-core`, `worker-payments`,
# `flower` or `release`; any other command runs as given (`celery -A workers inspect ping`). See docs/deploying.md.

# Build: the project and its dependencies into a virtualenv. Every dependency ships a wheel, so no compiler is needed.
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY setup.cfg pyproject.toml MANIFEST.in README.md ./
COPY smartcompute ./smartcompute
COPY web ./web
COPY workers ./workers
COPY config ./config
RUN python -m venv /opt/smartcompute \
    && /opt/smartcompute/bin/pip install --no-compile --upgrade pip==25.3 \
    && /opt/smartcompute/bin/pip install --no-compile .

# Run: the virtualenv, the migrations and the Procfile, as an unprivileged user.
FROM python:3.11-slim-bookworm
ENV PATH=/opt/smartcompute/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PORT=8000 BIND_ADDRESS=0.0.0.0
RUN groupadd --system --gid 10001 smartcompute \
    && useradd --system --uid 10001 --gid smartcompute --home-dir /app --no-create-home --shell /usr/sbin/nologin smartcompute
COPY --from=build /opt/smartcompute /opt/smartcompute
WORKDIR /app
COPY alembic.ini Procfile ./
COPY migrations ./migrations
COPY deploy/container/run-process /usr/local/bin/run-process
USER 10001:10001
EXPOSE 8000 5555
# The API's liveness; the other processes' checks are set where they run (deploy/compose.yaml, deploy/k8s).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ['PORT'], timeout=4)"]
ENTRYPOINT ["run-process"]
CMD ["web"]
