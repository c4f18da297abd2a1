# One image for every service; docker-compose.yml picks the queue per container.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY commander ./commander
COPY log_analyzer ./log_analyzer
COPY query_profiler ./query_profiler
COPY owner_notifier ./owner_notifier
COPY incident_cli ./incident_cli
RUN pip install --no-cache-dir .
RUN useradd --create-home --uid 10001 commander
USER commander
