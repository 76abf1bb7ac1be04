# The VAS image: the operator (python -m vas_operator) and the facade (python -m vas_api).
# Not built in this repository's CI (no Docker engine there); the Helm chart runs it.
FROM python:3.11-slim-bookworm
# janus.js and adapter.js for the web viewer come from Debian, as in development.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libjs-janus-gateway libjs-webrtc-adapter \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/vas
COPY pyproject.toml README.md ./
COPY operator/ operator/
COPY api/ api/
COPY core/ core/
RUN pip install --no-cache-dir . && rm -rf /root/.cache
USER 65534:65534
ENTRYPOINT []
CMD ["python", "-m", "vas_operator", "--help"]
