import { defineConfig } from "vitest/config";

// Workspace packages resolve to their TypeScript sources ("source" export condition), so tests need no build.
// The rest are Vite's defaults for server code.
const conditions = ["source", "module", "node", "development|production"];

// Vitest also hands the server conditions to Node for the packages it leaves to Node, and Node must not pick
// "module" builds: @opentelemetry/api's uses extensionless imports that only bundlers resolve.
const serverConditions = conditions.filter((condition) => condition !== "module");

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions: serverConditions } },
  test: {
    projects: [
      {
        extends: true,
        test: { name: "unit", include: ["*/src/**/*.test.ts"] },
      },
      {
        extends: true,
        test: {
          name: "integration",
          include: ["*/test/**/*.test.ts"],
          globalSetup: ["testkit/src/global-setup.ts"],
          testTimeout: 180_000,
          hookTimeout: 180_000,
          // Integration files start real processes; two cores are shared with Redis, Kafka and PostgreSQL.
          maxWorkers: 1,
        },
      },
    ],
  },
});
