# syntax=docker/dockerfile:1
# Parley's three images, one target each, built from the repository root:
#   docker build --target gateway -t parley-gateway .
#   docker build --target persister -t parley-persister .   (also runs the migrations: node persister/dist/migrate.js)
#   docker build --target web -t parley-web .
# They share the dependency install and the TypeScript build; each image then holds only its own service's runtime
# tree (charts/test/containers.test.ts: no persister code in the gateway image).
#
# The base is Debian 13 (trixie), not bookworm: the uWebSockets.js binary for Node 24 (ABI 137) needs glibc 2.38 and
# bookworm has 2.36 (checked by charts/test/images.test.ts). DEBIAN_IMAGE is the Debian release under NODE_IMAGE,
# pinned to its point release.
ARG NODE_IMAGE=node:24.21.0-trixie-slim
ARG DEBIAN_IMAGE=debian:13.8-slim

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
# Manifests first so the dependency layer is cached until package-lock.json changes. Every workspace's package.json is
# needed: the lock file lists them all.
COPY package.json package-lock.json tsconfig.json ./
COPY protocol/package.json protocol/
COPY runtime/package.json runtime/
COPY log/package.json log/
COPY store/package.json store/
COPY files/package.json files/
COPY persister/package.json persister/
COPY gateway/package.json gateway/
COPY embedded/package.json embedded/
COPY testkit/package.json testkit/
COPY web/package.json web/
COPY loadtest/package.json loadtest/
RUN npm ci --workspace gateway --workspace persister --workspace web --include-workspace-root --ignore-scripts \
  --no-audit --no-fund

FROM deps AS node-build
COPY protocol/ protocol/
COPY runtime/ runtime/
COPY log/ log/
COPY store/ store/
COPY files/ files/
COPY persister/ persister/
COPY gateway/ gateway/
RUN npx tsc -b gateway persister
COPY scripts/images/runtime-tree.sh /usr/local/bin/

FROM node-build AS gateway-tree
RUN runtime-tree.sh gateway protocol runtime log store files gateway

FROM node-build AS persister-tree
RUN runtime-tree.sh persister protocol runtime log store persister

FROM deps AS web-build
COPY protocol/ protocol/
COPY web/ web/
RUN npm run build --workspace web

FROM ${NODE_IMAGE} AS node-service
# tini as PID 1: forwards SIGTERM to node (which drains, or finishes its batch and commits) and reaps zombies.
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini \
  && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
USER 1000:1000
ENTRYPOINT ["/usr/bin/tini", "--"]

FROM node-service AS persister
COPY --from=persister-tree /out/ ./
# 9465: Prometheus /metrics.
EXPOSE 9465
CMD ["node", "persister/dist/main.js"]

# The web client: the Vite build (web/dist) served as static files by Debian's nginx as a non-root user (uid 101, port
# 8080). Its config is in web/nginx: the security headers the gateway sends when it serves the client itself
# (charts/test/images.test.ts keeps them equal), hashed assets cached for a year and index.html never, /healthz. The
# pid and temp files live under /tmp, an emptyDir next to the chart's read-only root filesystem. Package installs
# start no daemon (the Debian image's policy-rc.d), so nothing runs as root.
FROM ${DEBIAN_IMAGE} AS web
RUN groupadd --system --gid 101 nginx \
  && useradd --system --uid 101 --gid nginx --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin nginx \
  && apt-get update \
  && apt-get install -y --no-install-recommends nginx \
  && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-available /etc/nginx/sites-enabled /etc/nginx/conf.d/* \
    /usr/share/nginx/html/*
COPY web/nginx/nginx.conf /etc/nginx/nginx.conf
COPY web/nginx/parley-headers.conf /etc/nginx/parley-headers.conf
COPY web/nginx/default.conf /etc/nginx/conf.d/default.conf
COPY --from=web-build /app/web/dist/ /usr/share/nginx/html/
USER 101:101
EXPOSE 8080
# nginx finishes the requests in flight on SIGQUIT; SIGTERM would cut them off.
STOPSIGNAL SIGQUIT
# -e: errors before the config is read go to stderr too, not to a log file on the read-only root filesystem.
CMD ["nginx", "-e", "stderr"]

# Last, so that a plain `docker build .` gives the gateway.
FROM node-service AS gateway
COPY --from=gateway-tree /out/ ./
# 8080: WebSocket /ws, history API, /healthz, /readyz. 9464: Prometheus /metrics.
EXPOSE 8080 9464
CMD ["node", "gateway/dist/main.js"]
