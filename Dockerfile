# syntax=docker/dockerfile:1
# redis-sentinel-proxy container image.
#
#   docker build -t redis-sentinel-proxy .
#   docker run -v ./proxy.yaml:/etc/redis-sentinel-proxy/proxy.yaml:ro -p 6379:6379 redis-sentinel-proxy
#
# Config: /etc/redis-sentinel-proxy/proxy.yaml (mount yours there; the image ships deploy/proxy.yaml,
# which expects sentinels reachable as sentinel-1..3:26379). RSP_* variables and flags override it.
# Ports (documented, not fixed: they come from the config):
#   6379  client listener of the (first) group      (groups[].listen)
#   6380  read-only listener, when configured       (groups[].readListen)
#   9121  admin HTTP: /metrics /healthz /readyz /topology   (admin.listen)
# Runs as the unprivileged `node` user. Signals: SIGTERM/SIGINT drain and stop, SIGHUP reloads.
#
# test/integration/docker-steps.test.ts runs these same steps (it reads this file) without Docker.

ARG NODE_IMAGE=node:20-bookworm-slim

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
ENV NODE_ENV=production
WORKDIR /app
COPY package.json ./
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
