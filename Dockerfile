# costwarden: one image for the exporter, the receiver and the config renderer (`python -m stack render`).
# Multi-stage: wheels are built in the first stage, the runtime stage gets only the installed packages.
FROM python:3.12.8-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY costwarden costwarden
COPY exporter exporter
COPY receiver receiver
COPY stack stack
# With the AWS extra (boto3), so that provider_api: aws can run here; its credentials (AWS_* variables) are yours to pass.
RUN pip wheel --no-cache-dir --wheel-dir /wheels '.[aws]'

FROM python:3.12.8-slim-bookworm
# A CJK font, so the charts of a `language: zh` receiver carry their words (without one: numbers and units only).
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    fonts-wqy-microhei >/dev/null && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --home-dir /var/lib/costwarden --create-home costwarden
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
WORKDIR /opt/costwarden
# The configs and rules the renderer reads, and the renderer beside them (`python -m stack` from here finds both).
COPY prometheus prometheus
COPY alertmanager alertmanager
COPY rules rules
COPY stack stack
USER costwarden
EXPOSE 9877 9095
CMD ["python", "-m", "stack", "start", "receiver", "--", "costwarden-receiver", "--config", "/tmp/costwarden/receiver.yml"]
