export * from "./fs-object-store.js";
export * from "./object-store.js";
export * from "./s3-object-store.js";
