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
# Where the state lives (docker-compose mounts named volumes here): owned by the user the workers run
# as, since /app is root's. A new named volume takes this ownership from the image.
RUN mkdir -p /var/lib/incident-commander /var/spool/incident-commander && \
    chown commander:commander /var/lib/incident-commander /var/spool/incident-commander && \
    chmod 0700 /var/lib/incident-commander /var/spool/incident-commander
ENV INCIDENT_DB_URL=sqlite:////var/lib/incident-commander/incidents.db \
    INCIDENT_SPOOL_DIR=/var/spool/incident-commander
USER commander
