# tusserver: a tus 1.0.0 resumable upload server.
#   docker build -t tusserver .
#   docker run -p 1080:1080 -v tusdata:/data tusserver
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY tusserver ./tusserver
RUN pip install ".[s3,redis]" \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin tus \
    && mkdir -p /data \
    && chown tus:tus /data

USER tus
VOLUME /data
EXPOSE 1080

HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('TUSSERVER_PORT', '1080'); base = os.environ.get('TUSSERVER_BASE_PATH', '/files/'); req = urllib.request.Request(f'http://127.0.0.1:{port}{base}', method='OPTIONS'); sys.exit(0 if urllib.request.urlopen(req, timeout=4).status in (200, 204) else 1)"]

CMD ["tusserver", "serve", "--host", "0.0.0.0", "--data-dir", "/data"]
