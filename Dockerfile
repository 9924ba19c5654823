# syntax=docker/dockerfile:1
#
# Augur server image. Build: docker build -t augur-server .
# Run (embedded SQLite + files under /data):
#   docker run -p 127.0.0.1:8080:8080 -v augur-data:/data augur-server
# Every AUGUR_* variable of the README configures it; docker-compose.yml runs it
# against Postgres, Redis and MinIO behind nginx.

ARG NODE_IMAGE=node:22-bookworm-slim

# ---- build: compile TypeScript, then keep only production dependencies ----
FROM ${NODE_IMAGE} AS build
# better-sqlite3 downloads a prebuilt binary when one matches; python3, make and
# g++ are the fallback so the build also works where none does (e.g. new arch).
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 make g++ \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false
COPY package.json package-lock.json ./
# Install scripts run only for the packages package.json's "allowScripts"
# allows (npm 10 ignores that field, so apply it by hand; keep both in step).
RUN --mount=type=cache,target=/root/.npm \
    npm ci --ignore-scripts \
    && npm rebuild better-sqlite3 esbuild
COPY . .
RUN npm run build \
    && npm prune --omit=dev --ignore-scripts

# ---- runtime ----
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production PORT=8080 AUGUR_DATA_DIR=/data
WORKDIR /app
# The server reads schema/ and openapi/ at run time from the package root (the
# folder holding package.json), so they sit beside dist/. Files stay owned by
# root: the server cannot rewrite its own code; only /data is writable.
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/schema ./schema
COPY --from=build /app/openapi ./openapi
# `augur` on PATH, for `docker compose exec augur-1 augur admin ...`.
RUN printf '#!/bin/sh\nexec node /app/dist/scripts/augur.js "$@"\n' > /usr/local/bin/augur \
    && chmod 755 /usr/local/bin/augur \
    && mkdir -p /data \
    && chown node:node /data
# Declared after the chown: changes to a volume path after VOLUME are discarded.
VOLUME /data
USER node
EXPOSE 8080
# Liveness only (readiness, which checks the backends, is /api/v1/readyz).
# Node's own fetch: the slim image has neither curl nor wget.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/api/v1/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Exec form: node itself receives SIGTERM and drains before exiting.
CMD ["node", "dist/scripts/augur.js", "serve"]
