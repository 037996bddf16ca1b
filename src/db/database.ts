// Opens the database the config asks for: the embedded server in DATA_DIR, or DATABASE_URL
// (which must have wal_level=logical: the change stream depends on it).

import type pg from "pg";
import type { Logger } from "pino";
import type { Config } from "../config.js";
import { type EmbeddedServer, startEmbeddedPostgres } from "./embedded.js";
import { migrate } from "./migrate.js";
import { createDb, createPool, type Db } from "./pool.js";

export interface Database {
  readonly connectionString: string;
  readonly pool: pg.Pool;
  readonly db: Db;
  close(): Promise<void>;
}

export class WalLevelError extends Error {}

export async function openDatabase(config: Pick<Config, "databaseUrl" | "dataDir">, logger: Logger): Promise<Database> {
  let embedded: EmbeddedServer | null = null;
  let connectionString = config.databaseUrl;
  if (connectionString === null) {
    embedded = await startEmbeddedPostgres({
      dataDir: config.dataDir,
      onLog: (message) => logger.debug({ postgres: message.trim() }, "embedded postgres"),
    });
    connectionString = embedded.connectionString;
    logger.info({ dataDir: config.dataDir, port: embedded.port }, "embedded PostgreSQL started");
  }
  const pool = createPool(connectionString, 20);
  try {
    const { rows } = await pool.query<{ wal_level: string }>("SELECT current_setting('wal_level') AS wal_level");
    if (rows[0]?.wal_level !== "logical") {
      throw new WalLevelError(
        `DATABASE_URL points at a server with wal_level=${rows[0]?.wal_level}; the change stream needs ` +
          "wal_level=logical (set it in postgresql.conf or with ALTER SYSTEM SET wal_level = logical, then restart PostgreSQL)",
      );
    }
    const applied = await migrate(pool);
    if (applied.length > 0) logger.info({ applied }, "migrations applied");
  } catch (error) {
    await pool.end().catch(() => {});
    await embedded?.stop();
    throw error;
  }
  const db = createDb(pool);
  return {
    connectionString,
    pool,
    db,
    async close() {
      await db.destroy().catch(() => {});
      await embedded?.stop();
    },
  };
}
