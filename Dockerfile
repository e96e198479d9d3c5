# The Stadtretter assistant: the same install steps as the README, run as a non-root user.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 BOT_DATA_DIR=/data
RUN useradd --create-home --uid 1000 stadtretter && mkdir /data && chown stadtretter /data
WORKDIR /app
COPY pyproject.toml README.md LICENSE ./
COPY bot ./bot
COPY handlers ./handlers
COPY content ./content
COPY scheduler ./scheduler
RUN pip install --no-cache-dir .

USER stadtretter
VOLUME ["/data"]
CMD ["stadtretter", "run"]
