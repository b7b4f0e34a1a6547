# The data consumer: packed codes in, clusters out. numpy + onnxruntime + FastAPI, no torch.
# Build from the repository root:  docker build -f deploy/consumer.Dockerfile -t bitcluster-consumer .
# Serves the embedded default model unless BITCLUSTER_MODEL_DIR points at a mounted export.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
# The consumer extra only; the build fails if anything pulled torch in.
# hadolint ignore=DL3013  # this project itself; its dependency ranges live in pyproject.toml
RUN pip install --no-cache-dir ".[consumer]" \
    && python -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is not None)" \
    && useradd --system --uid 10001 --no-create-home bitcluster

USER 10001
ENV BITCLUSTER_HOST=0.0.0.0 \
    BITCLUSTER_PORT=8000
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-m", "bitcluster.serving.probe", "http://127.0.0.1:8000/readyz"]
# uvicorn drains in-flight requests on SIGTERM (BITCLUSTER_SHUTDOWN_TIMEOUT_S, default 10 s).
STOPSIGNAL SIGTERM
CMD ["bitcluster", "serve", "consumer"]
