import { defineConfig } from "vitest/config";

export default defineConfig({
  // graphql 16 has no "exports" map: Node loads its CommonJS build for the libraries, while Vite
  // would pick index.mjs for our code: two copies of graphql. Use the one Node uses.
  resolve: { alias: [{ find: /^graphql$/, replacement: "graphql/index.js" }] },
  test: {
    globalSetup: ["test/setup/global-setup.ts"],
    // Fails a test file that leaves a service, pool, socket, timer or child process open.
    setupFiles: ["test/setup/leak-check.ts"],
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    poolOptions: { forks: { maxForks: 2 } },
    env: { NODE_ENV: "test" },
  },
});
