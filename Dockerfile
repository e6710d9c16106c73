# Digitales Rathaus: one image for the API and the job worker.
#
#   docker build -t rathaus .
#   docker run -p 8000:8000 -e RATHAUS_DATABASE_URL=... -e ... rathaus
#       API: applies migrations, then serves on 0.0.0.0:8000. Add `--workers N` by passing the
#       whole command: `rathaus serve --migrate --host 0.0.0.0 --workers 4`.
#   docker run -e RATHAUS_DATABASE_URL=... -e ... rathaus worker
#       Background jobs (PostgreSQL); run as many as needed next to the API containers.
#   docker run ... rathaus migrate
#       Migrations only, e.g. as a release step when the API containers run `serve` without it.
#
# The image is production by default: it refuses to start with development defaults and names
# each setting at fault (see README.md, Deployment). Trying it out on a laptop instead takes
# -e RATHAUS_ENV=development -e RATHAUS_DEVELOPMENT_REMOTE_ACCESS=true, and `-p 127.0.0.1:8000:8000`
# so that only this machine reaches its development sign-in.

FROM python:3.11-slim AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src

# Dependencies first, from the hash-pinned lock only, so code changes reuse this layer.
COPY requirements/runtime.lock requirements/runtime.lock
RUN pip install --require-hashes -r requirements/runtime.lock

# The project itself, for the `rathaus` command; setuptools and wheel come from the lock.
COPY pyproject.toml ./
COPY app/ app/
RUN pip install --no-deps --no-build-isolation .


FROM python:3.11-slim AS runtime

# app/core/config.py finds alembic.ini, migrations/ and var/ next to the `app` package it was
# imported from. PYTHONPATH makes that the tree in /srv/rathaus rather than the copy the
# project install left in the venv's site-packages.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/srv/rathaus \
    PATH=/opt/venv/bin:$PATH \
    RATHAUS_ENV=production

RUN groupadd --system --gid 10001 rathaus \
    && useradd --system --uid 10001 --gid rathaus --home-dir /srv/rathaus --no-create-home \
        --shell /usr/sbin/nologin rathaus

WORKDIR /srv/rathaus
COPY --from=build /opt/venv /opt/venv
COPY alembic.ini ./
COPY migrations/ migrations/
COPY openapi/ openapi/
COPY app/ app/
# The code stays owned by root, so the service cannot rewrite it; bytecode is compiled here
# because the service may not write it at run time. var/ is the one writable directory, for
# the SQLite default when trying the image out (production refuses SQLite).
RUN python -m compileall -q app migrations \
    && mkdir var \
    && chown rathaus:rathaus var

USER 10001:10001
EXPOSE 8000

# Liveness only (no database): /readyz is for the orchestrator's readiness probe.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; port = os.environ.get('RATHAUS_PORT', '8000'); urllib.request.urlopen('http://127.0.0.1:' + port + '/healthz', timeout=4)"]

ENTRYPOINT ["rathaus"]
CMD ["serve", "--migrate", "--host", "0.0.0.0"]
