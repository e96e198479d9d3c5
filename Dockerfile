# The Stadtretter assistant for the network: PostgreSQL, Telegram and/or Matrix, HTTP for health and pages.
# Build: docker build -t stadtretter .   Run: see compose.yaml and README "Running it for the network".
# The base image is pinned to an exact Python release (add @sha256:… to pin its bytes as well).
FROM python:3.11.7-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    BOT_DATA_DIR=/data \
    BOT_HTTP_LISTEN=0.0.0.0:8080 \
    BOT_TELEGRAM_WEBHOOK_LISTEN=0.0.0.0

RUN useradd --create-home --uid 1000 stadtretter && mkdir /data && chown stadtretter /data
WORKDIR /app
# Dependencies first, at the exact versions the tests ran with: a code change does not reinstall them.
COPY requirements.lock ./
RUN pip install -r requirements.lock
COPY pyproject.toml README.md LICENSE ./
COPY bot ./bot
COPY handlers ./handlers
COPY content ./content
COPY scheduler ./scheduler
RUN pip install --no-deps . && stadtretter --help >/dev/null

USER stadtretter
VOLUME ["/data"]
# 8080: /healthz, /readyz, /metrics, the online overview and calendars; 8443: the Telegram webhook (if used).
EXPOSE 8080 8443
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]
STOPSIGNAL SIGTERM
# Without a token and without a terminal (docker run without -it) it refuses in one line (exit 2) instead
# of starting the demo console and ending at once; `docker run -it stadtretter` tries the demo.
CMD ["stadtretter", "run"]
