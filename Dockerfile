# The Airflow image for the OCR migration: the official apache/airflow image plus Tesseract
# (with Polish data), the fonts the golden corpus is typeset with, and this project
# (ocr_engines, rollout, service, cli, staging, presentation, expectations, the `ocr-migrate` command).
#
# One image serves every container of docker-compose.airflow.yml: the Airflow components and the
# OCR service (which overrides the entrypoint). Build: docker compose -f docker-compose.airflow.yml build
#
# AIRFLOW_VERSION must equal the apache-airflow pin in constraints.txt (tests/test_compose.py checks).
ARG AIRFLOW_VERSION=3.3.2
ARG PYTHON_VERSION=3.11
FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION}

ARG AIRFLOW_VERSION

# OS packages: the list lives in packages.txt only (Astro's convention), one Debian package a line.
USER root
COPY packages.txt /tmp/packages.txt
RUN export DEBIAN_FRONTEND=noninteractive \
    && apt-get update -qq \
    && grep -vE '^[[:space:]]*(#|$)' /tmp/packages.txt | xargs apt-get install -y -qq --no-install-recommends \
    && tesseract --list-langs 2>&1 | grep -qx pol \
    && apt-get autoremove -yqq --purge \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* /tmp/packages.txt

USER airflow

# Tesseract's OpenMP threads fight each other when several pages are read in parallel processes
# (Celery worker slots, the service's engine pool): one thread per process is faster overall.
ENV OMP_THREAD_LIMIT=1

# Python dependencies first, from pyproject.toml under the project's lock file, so that editing the
# code does not re-download them. apache-airflow is pinned to the image's own version: the
# constraints pin the same one, and this makes pip refuse, rather than perform, an upgrade.
COPY --chown=airflow:0 pyproject.toml constraints.txt /tmp/ocr-migrate/
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('/tmp/ocr-migrate/pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/ocr-migrate/requirements.txt \
    && pip install --no-cache-dir -c /tmp/ocr-migrate/constraints.txt \
        "apache-airflow==${AIRFLOW_VERSION}" -r /tmp/ocr-migrate/requirements.txt

# The project itself (its dependencies are already in place), then `pip check`: the image's own
# providers must still be satisfied by what the lock file installed. OCR_MIGRATE_DATA_DIR (event
# spool) is group-0 writable: compose runs the Airflow containers as AIRFLOW_UID:0.
COPY --chown=airflow:0 README.md /tmp/ocr-migrate/
COPY --chown=airflow:0 ocr_engines /tmp/ocr-migrate/ocr_engines
COPY --chown=airflow:0 rollout /tmp/ocr-migrate/rollout
COPY --chown=airflow:0 service /tmp/ocr-migrate/service
COPY --chown=airflow:0 cli /tmp/ocr-migrate/cli
COPY --chown=airflow:0 staging /tmp/ocr-migrate/staging
COPY --chown=airflow:0 presentation /tmp/ocr-migrate/presentation
COPY --chown=airflow:0 expectations /tmp/ocr-migrate/expectations
RUN cd /tmp/ocr-migrate \
    && pip install --no-cache-dir --no-deps -c constraints.txt . \
    && pip check \
    && cd / && rm -rf /tmp/ocr-migrate \
    && mkdir -p /opt/airflow/ocr-data && chmod 0775 /opt/airflow/ocr-data \
    && ocr-migrate --help >/dev/null

WORKDIR /opt/airflow
