export * from "./config.js";
export * from "./health.js";
export * from "./logger.js";
export * from "./metrics-server.js";
export * from "./redis.js";
export * from "./redis-keys.js";
export * from "./room-feed.js";
export * from "./tracing.js";
