# cryptoscope agent image: `docker build -t <registry>/cryptoscope:<version> .`
# Runs `cryptoscope agent` as an unprivileged user (uid/gid 10001, the chart's
# runAsUser/runAsGroup). Holds no secrets: the agent gets its identity at run
# time (service account token, Azure workload identity).

ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

# --- build: a wheel of this repository -------------------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY agent ./agent
COPY inspector ./inspector
RUN python -m pip wheel --no-deps --wheel-dir /wheels .

# --- runtime ---------------------------------------------------------------
FROM ${PYTHON_IMAGE}
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=build /wheels /wheels
RUN python -m pip install /wheels/*.whl \
    && rm -rf /wheels \
    && groupadd --system --gid 10001 cryptoscope \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin cryptoscope \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/cryptoscope

USER 10001:10001
WORKDIR /var/lib/cryptoscope
EXPOSE 9443
ENTRYPOINT ["cryptoscope", "agent"]
