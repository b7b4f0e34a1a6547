# The data vendor: images in, packed codes out. Build from the repository root:
#   docker build -f deploy/vendor.Dockerfile -t bitcluster-vendor .                                  # CPU
#   docker build -f deploy/vendor.Dockerfile --build-arg ONNXRUNTIME_GPU=true -t bitcluster-vendor:gpu .  # CUDA
# The GPU build swaps onnxruntime for onnxruntime-gpu with CUDA and cuDNN from NVIDIA's wheels (no CUDA
# base image needed; the host needs the NVIDIA driver and container toolkit). 1.31 is built for CUDA 13;
# for an older driver pass --build-arg ONNXRUNTIME_GPU_VERSION=<a CUDA 12 release>. The service uses
# CUDAExecutionProvider when it starts and falls back to the CPU otherwise; GET /v1/model says which.
FROM python:3.11-slim

ARG ONNXRUNTIME_GPU=false
ARG ONNXRUNTIME_GPU_VERSION=1.31.1

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# hadolint ignore=DL3013  # this project itself; its dependency ranges live in pyproject.toml
RUN pip install --no-cache-dir ".[vendor]" \
    && if [ "$ONNXRUNTIME_GPU" = "true" ]; then \
         pip uninstall --yes onnxruntime \
         && pip install --no-cache-dir "onnxruntime-gpu[cuda,cudnn]==${ONNXRUNTIME_GPU_VERSION}"; \
       fi \
    && useradd --system --uid 10001 --no-create-home bitcluster

USER 10001
ENV BITCLUSTER_HOST=0.0.0.0 \
    BITCLUSTER_PORT=8000
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-m", "bitcluster.serving.probe", "http://127.0.0.1:8000/readyz"]
STOPSIGNAL SIGTERM
CMD ["bitcluster", "serve", "vendor"]
