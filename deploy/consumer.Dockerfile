# The data consumer: packed codes in, clusters out. numpy + onnxruntime + FastAPI, no torch.
# Build from the repository root:  docker build -f deploy/consumer.Dockerfile -t bitcluster-consumer .
# Offline, from wheels on the host (deploy/compose/wheelhouse.sh fills deploy/wheelhouse):
#   docker build -f deploy/consumer.Dockerfile --build-arg WHEELHOUSE=true -t bitcluster-consumer .
# BASE_IMAGE: any Debian-like image with python3 (3.10+) and its venv module, e.g. one made by debootstrap.
# Serves the embedded default model unless BITCLUSTER_MODEL_DIR points at a mounted export.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
ARG WHEELHOUSE=false
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY deploy/wheelhouse ./wheelhouse
COPY requirements/consumer.txt ./requirements.txt
# The dependencies first, in a layer of their own: a change to the code then rebuilds in seconds.
# Every package pinned with its hashes (requirements/consumer.txt, made by `make lock`): pip refuses any other file.
RUN if [ "$WHEELHOUSE" = "true" ]; then set -- --no-index --find-links ./wheelhouse; fi \
    && python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --require-hashes "$@" -r requirements.txt
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
# The project itself (consumer extra; its dependencies are in) into the venv that the runtime stage copies,
# the wheels staying behind; the build fails if anything pulled torch in.
RUN /opt/venv/bin/pip install --no-cache-dir --no-index --no-deps --no-build-isolation ".[consumer]" \
    && /opt/venv/bin/python -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is not None)"

FROM ${BASE_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH
RUN useradd --system --uid 10001 --no-create-home bitcluster
COPY --from=build /opt/venv /opt/venv

USER 10001
ENV BITCLUSTER_HOST=0.0.0.0 \
    BITCLUSTER_PORT=8000
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-m", "bitcluster.serving.probe", "http://127.0.0.1:8000/readyz"]
# uvicorn drains in-flight requests on SIGTERM (BITCLUSTER_SHUTDOWN_TIMEOUT_S, default 10 s).
STOPSIGNAL SIGTERM
CMD ["bitcluster", "serve", "consumer"]
