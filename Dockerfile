FROM node:24-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY . .
# The code stays root's (the engine cannot rewrite itself); only the state directory is the engine's.
# A named volume mounted there starts as a copy of it, owner and mode included.
RUN mkdir -p /app/.hdm && chown node:node /app/.hdm && chmod 0700 /app/.hdm
USER node
ENTRYPOINT ["node", "bin/hdm.mjs"]
CMD ["--help"]
