# The GPU worker: CUDA runtime, a CUDA build of torch, then the project with its worker extras.
# Build from the repository root: docker build -f docker/worker.Dockerfile .
# One container uses every GPU it is given (`v2v worker --devices all`: one worker process per GPU).
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX=https://download.pytorch.org/whl/cu128

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH \
    V2V_MANIFEST=/srv/v2v/checkpoints/manifest.json \
    V2V_MEDIA_ROOT=/data/media

RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv libglib2.0-0 \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/venv

# torch first and explicitly (CUDA wheel), so `pip install .[worker]` keeps it.
RUN pip install "torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX}"

WORKDIR /srv/v2v
COPY pyproject.toml README.md ./
COPY app ./app
COPY cli ./cli
COPY models ./models
COPY workers ./workers
COPY checkpoints ./checkpoints
RUN pip install ".[worker]" \
 && useradd --system --uid 10001 --home-dir /srv/v2v v2v \
 && mkdir -p /data/media && chown v2v /data/media

USER v2v
CMD ["v2v", "worker", "--devices", "all"]
