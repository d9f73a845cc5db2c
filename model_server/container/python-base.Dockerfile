# A local stand-in for python:3.11-slim: Debian bookworm's Python 3.11 with pip. build-local-base.sh
# builds it FROM a debootstrapped Debian (BASE_IMAGE=local/debian:bookworm) on machines that reach apt
# and PyPI but no image registry.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
COPY certs/ /usr/local/share/ca-certificates/
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-pip ca-certificates passwd \
    && update-ca-certificates && rm -rf /var/lib/apt/lists/* \
    && ln -s /usr/bin/python3 /usr/local/bin/python && rm -f /usr/lib/python3*/EXTERNALLY-MANAGED
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
