# The bridge as a container: built in one stage, run in a small one with
# production dependencies only, as an unprivileged user. Node.js 24 (LTS);
# no uWebSockets.js build on npm fits it, so the bridge runs on its node
# transport (node:http + ws), which CI tests on Node.js 24.
# docker compose (docker-compose.yml) runs it next to PostgreSQL 17.

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY patches ./patches
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY bridge ./bridge
COPY db ./db
RUN npm run build

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
COPY patches ./patches
RUN npm ci --omit=dev && npm cache clean --force
COPY db ./db
COPY docs/openapi.yaml ./docs/openapi.yaml
COPY --from=build /app/dist ./dist
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# --ignore-scripts skips "prestart" (the build, done above); npm start then
# runs the built bridge, which migrates DATABASE_URL before it serves.
CMD ["npm", "start", "--ignore-scripts"]
