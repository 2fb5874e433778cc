# The API process: slim Python, base dependencies only (no torch, no OpenCV).
# Build from the repository root: docker build -f docker/api.Dockerfile .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    V2V_MANIFEST=/srv/v2v/checkpoints/manifest.json \
    V2V_MEDIA_ROOT=/data/media \
    V2V_SAMPLES_DIR=/srv/v2v/samples

WORKDIR /srv/v2v
COPY pyproject.toml README.md ./
COPY app ./app
COPY cli ./cli
COPY checkpoints/manifest.json ./checkpoints/manifest.json
COPY samples ./samples
RUN pip install . \
 && useradd --system --uid 10001 --home-dir /srv/v2v v2v \
 && mkdir -p /data/media && chown v2v /data/media

USER v2v
EXPOSE 8000
CMD ["v2v", "api", "--host", "0.0.0.0", "--port", "8000"]
