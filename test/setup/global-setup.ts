// One ephemeral PostgreSQL for the whole run (OS temp folder, free port, wal_level=logical),
// a template database migrated once; each test file clones its own database from it.
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import type { TestProject } from "vitest/node";
import { startEmbeddedPostgres } from "../../src/db/embedded.js";
import { migrate } from "../../src/db/migrate.js";

export const TEMPLATE_DB = "scc_template";

declare module "vitest" {
  export interface ProvidedContext {
    pgAdminUrl: string;
    pgTemplateDb: string;
  }
}

export default async function setup(project: TestProject) {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "scc-test-pg-"));
  const logs: string[] = [];
  const server = await startEmbeddedPostgres({ dataDir, onLog: (m) => logs.push(m) }).catch(async (error) => {
    console.error(logs.join(""));
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  });
  const teardown = async () => {
    await server.stop();
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    const admin = new pg.Client({ connectionString: server.connectionString });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${TEMPLATE_DB}`);
    await admin.end();
    const templateUrl = new URL(server.connectionString);
    templateUrl.pathname = `/${TEMPLATE_DB}`;
    const pool = new pg.Pool({ connectionString: templateUrl.toString(), max: 1 });
    await migrate(pool).finally(() => pool.end());
  } catch (error) {
    await teardown();
    throw error;
  }

  project.provide("pgAdminUrl", server.connectionString);
  project.provide("pgTemplateDb", TEMPLATE_DB);

  return teardown;
}
