# tusserver on local disk: docker build -t tusserver . && docker run -p 1080:1080 -v tusdata:/data tusserver
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    TUSSERVER_HOST=0.0.0.0 TUSSERVER_PORT=1080 TUSSERVER_DATA_DIR=/data

# The extras to install: EXTRAS=azure,redis or gcs,redis for the other clouds (docker build --build-arg);
# metrics is always in.
ARG EXTRAS=s3,redis
WORKDIR /app
COPY pyproject.toml README.md ./
COPY tusserver ./tusserver
RUN pip install --no-cache-dir ".[${EXTRAS},metrics]" \
    && useradd --system --uid 10001 --home-dir /app tus \
    && mkdir -p /data && chown tus /data

USER tus
VOLUME ["/data"]
EXPOSE 1080
# /healthz: the process answers (at the root whatever --base-path is, without a token), on the port it was given.
# Liveness only: a missing bucket or Redis is /readyz's business (compose and orchestrators probe that).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD python -c "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('TUSSERVER_PORT', '1080'), timeout=4)"
CMD ["tusserver", "serve"]
