export * from "./kafka-log.js";
export * from "./log.js";
export * from "./memory-log.js";
