export * from "./codes.js";
export * from "./envelope.js";
export * from "./frames.js";
export * from "./message.js";
export * from "./parse.js";
export * from "./retry.js";
export * from "./rooms.js";
