# Production image of sessions-server. Configure with SESSIONS_* variables; point
# SESSIONS_DATABASE_URL at PostgreSQL (the embedded database is for development).
FROM python:3.11-slim AS build
WORKDIR /src
COPY clients/python clients/python
COPY server server
RUN python -m pip wheel --no-cache-dir --wheel-dir /wheels ./clients/python ./server

FROM python:3.11-slim
RUN useradd --system --uid 10001 sessions
COPY --from=build /wheels /wheels
RUN python -m pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER sessions
ENV SESSIONS_LISTEN=0.0.0.0:50051 \
    SESSIONS_AUTH=jwt
EXPOSE 50051
HEALTHCHECK CMD python -c "import grpc; from grpc_health.v1 import health_pb2 as h, health_pb2_grpc as g; c = grpc.insecure_channel('127.0.0.1:50051'); assert g.HealthStub(c).Check(h.HealthCheckRequest(), timeout=2).status == h.HealthCheckResponse.SERVING"
# Apply migrations once per release (e.g. a job running `sessions-server migrate`).
ENTRYPOINT ["sessions-server"]
CMD ["serve"]
