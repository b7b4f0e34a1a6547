# The data vendor: images in, packed codes out (the ONNX encoder; no torch). Build from the repository root:
#   docker build -f deploy/vendor.Dockerfile -t bitcluster-vendor .                                  # CPU
#   docker build -f deploy/vendor.Dockerfile --build-arg ONNXRUNTIME_GPU=true -t bitcluster-vendor:gpu .  # CUDA
#   docker build -f deploy/vendor.Dockerfile --build-arg WHEELHOUSE=true -t bitcluster-vendor .      # offline
# WHEELHOUSE=true installs from deploy/wheelhouse only (deploy/compose/wheelhouse.sh fills it); BASE_IMAGE
# is any Debian-like image with python3 (3.10+) and its venv module.
# The GPU build swaps onnxruntime for onnxruntime-gpu with CUDA and cuDNN from NVIDIA's wheels (no CUDA
# base image needed; the host needs the NVIDIA driver and container toolkit). 1.31 is built for CUDA 13;
# for an older driver pass --build-arg ONNXRUNTIME_GPU_VERSION=<a CUDA 12 release>. The service uses
# CUDAExecutionProvider when it starts and falls back to the CPU otherwise; GET /v1/model says which.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
ARG WHEELHOUSE=false
ARG ONNXRUNTIME_GPU=false
ARG ONNXRUNTIME_GPU_VERSION=1.31.1
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY deploy/wheelhouse ./wheelhouse
COPY requirements/vendor.txt ./requirements.txt
# The dependencies first, in a layer of their own: a change to the code then rebuilds in seconds.
# Every package pinned with its hashes (requirements/vendor.txt, made by `make lock`): pip refuses any other file.
RUN if [ "$WHEELHOUSE" = "true" ]; then set -- --no-index --find-links ./wheelhouse; fi \
    && python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --require-hashes "$@" -r requirements.txt \
    && if [ "$ONNXRUNTIME_GPU" = "true" ]; then \
         /opt/venv/bin/pip uninstall --yes onnxruntime \
         && /opt/venv/bin/pip install --no-cache-dir "$@" "onnxruntime-gpu[cuda,cudnn]==${ONNXRUNTIME_GPU_VERSION}"; \
       fi
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
# The project itself (vendor extra; its dependencies are in) into the venv that the runtime stage copies,
# the wheels staying behind; the encoder is an ONNX graph, so the build fails if anything pulled torch in.
RUN /opt/venv/bin/pip install --no-cache-dir --no-index --no-deps --no-build-isolation ".[vendor]" \
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
STOPSIGNAL SIGTERM
CMD ["bitcluster", "serve", "vendor"]
