# The VAS image: the operator (python -m vas_operator) and the facade (python -m vas_api).
#   docker build -t vas .                          # on python:3.11-slim-bookworm
# `make images` builds this same file with buildah on a Debian base made by mmdebstrap
# (--build-arg BASE_IMAGE=localhost/vas-base:...), which brings Debian's python3 (3.11).
# Non-root (65534), nothing written at run time (a read-only root filesystem works), no
# compilers: pip runs in the build stage only and the final stage gets the finished venv.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS runtime
# janus.js and adapter.js for the web viewer come from Debian, as in development; python3 too
# when the base has none (the mmdebstrap base; python:3.11-slim has its own in /usr/local).
RUN set -eux; \
    pkgs="libjs-janus-gateway libjs-webrtc-adapter"; \
    command -v python3 >/dev/null || pkgs="$pkgs python3"; \
    apt-get update; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $pkgs; \
    rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log

FROM runtime AS build
RUN set -eux; \
    if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then \
      apt-get update; \
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-venv; \
    fi
# A CA bundle for pip when the build runs behind a TLS-inspecting proxy (make images mounts the
# host's); unset by default.
ARG PIP_CERT
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator/ operator/
COPY api/ api/
COPY core/ core/
RUN set -eux; \
    python3 -m venv /opt/vas/venv; \
    /opt/vas/venv/bin/pip install --no-cache-dir --disable-pip-version-check \
      ${PIP_CERT:+--cert "$PIP_CERT"} .; \
    /opt/vas/venv/bin/pip uninstall -y --disable-pip-version-check pip setuptools
# The viewer's page, script and style: until pyproject.toml declares them as package data
# ([tool.setuptools.package-data] vas_api = ["static/*"]) the wheel leaves them out.
RUN set -eux; \
    pkg=$(/opt/vas/venv/bin/python -c 'import pathlib, vas_api; print(pathlib.Path(vas_api.__file__).parent)'); \
    mkdir -p "$pkg/static"; cp -rn api/vas_api/static/. "$pkg/static/"; ls "$pkg/static/index.html"

FROM runtime
COPY --from=build /opt/vas/venv /opt/vas/venv
ENV PATH=/opt/vas/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /opt/vas
USER 65534:65534
ENTRYPOINT []
CMD ["python", "-m", "vas_operator", "--help"]
