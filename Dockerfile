# syntax=docker/dockerfile:1
# redis-sentinel-proxy container image.
#
#   docker build -t redis-sentinel-proxy:0.1.0 --build-arg REVISION="$(git rev-parse HEAD)" .
#   docker run -v "$PWD/config-dir:/etc/redis-sentinel-proxy:ro" -p 6379:6379 redis-sentinel-proxy:0.1.0
#
# Config: /etc/redis-sentinel-proxy/proxy.yaml. Mount a DIRECTORY holding your proxy.yaml over
# /etc/redis-sentinel-proxy (not the single file: an editor that replaces the file would leave the
# container reading the old one, and SIGHUP would reload stale config). The image ships
# deploy/proxy.yaml there, which expects sentinels reachable as sentinel-1..3:26379. RSP_* variables
# and flags override the file. docs/deploy.md has the details.
# Ports (documented, not fixed: they come from the config):
#   6379  client listener of the (first) group      (groups[].listen)
#   6380  read-only listener, when configured       (groups[].readListen)
#   9121  admin HTTP: /healthz /readyz /topology /metrics ...  (admin.listen)
# Runs as the unprivileged `node` user. Signals: SIGTERM/SIGINT drain and stop, SIGHUP reloads.
#
# test/integration/docker-steps.test.ts runs these same steps (it reads this file) without Docker.

# Node.js 24 LTS (supported until April 2028), pinned to a release: bump it deliberately. The code
# itself runs on Node 20+ (package.json engines), which the test suite covers.
ARG NODE_IMAGE=node:24.21.0-bookworm-slim

# ---- build: dev dependencies + TypeScript compile
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npx tsc -p . && test -f dist/src/cli.js

# ---- deps: production dependencies only (its npm cache stays in this stage)
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

# ---- runtime
FROM ${NODE_IMAGE} AS runtime
# The image's version (keep it equal to package.json's) and the commit it was built from.
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG NODE_IMAGE
LABEL org.opencontainers.image.title="redis-sentinel-proxy" \
      org.opencontainers.image.description="RESP-aware TCP proxy in front of a Redis Sentinel group: writes to the verified master, failovers without client-visible errors" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="https://github.com/redis-sentinel-proxy/redis-sentinel-proxy" \
      org.opencontainers.image.base.name="docker.io/library/${NODE_IMAGE}"
ENV NODE_ENV=production
WORKDIR /app
COPY package.json LICENSE ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY deploy/proxy.yaml /etc/redis-sentinel-proxy/proxy.yaml
USER node
EXPOSE 6379 6380 9121
STOPSIGNAL SIGTERM
# node itself fetches /healthz (slim images have no curl). Set RSP_HEALTHCHECK_URL when the admin
# server is not on port 9121.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 CMD ["node", "-e", "fetch(process.env.RSP_HEALTHCHECK_URL||'http://127.0.0.1:9121/healthz',{signal:AbortSignal.timeout(2500)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "/app/dist/src/cli.js"]
CMD ["--config", "/etc/redis-sentinel-proxy/proxy.yaml"]
