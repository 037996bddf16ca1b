// Entry point: read config, start, stop cleanly on SIGINT/SIGTERM.

import { buildApp } from "./app.js";
import { type Config, ConfigError, loadConfig } from "./config.js";
import { coerceError } from "./lib/errors.js";

let config: Config;
try {
  config = loadConfig();
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(2);
  }
  throw error;
}

const app = buildApp(config);
let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  app.logger.info({ signal }, "stopping");
  // Requests may take SHUTDOWN_DRAIN_MS to finish; the stream, pool and database 20 s more.
  const force = setTimeout(() => process.exit(1), config.shutdownDrainMs + 20_000);
  force.unref();
  try {
    await app.stop();
    process.exit(0);
  } catch (error) {
    app.logger.error({ err: coerceError(error) }, "stop failed");
    process.exit(1);
  }
}
process.on("SIGINT", () => void shutdown("SIGINT"));
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGHUP", () => void shutdown("SIGHUP"));
// Whatever the process tree (npm, a shell, a supervisor): when the process that started this one
// goes away without passing a signal on, stop too, rather than run on with the database.
const parent = process.ppid;
const orphaned = setInterval(() => {
  if (process.ppid !== parent) void shutdown("parent exited");
}, 1000);
orphaned.unref();

try {
  const { url } = await app.start();
  if (process.stdout.isTTY) console.log(`GraphQL (and GraphiQL in a browser): ${url}`);
} catch (error) {
  const failure = coerceError(error);
  app.logger.fatal({ err: failure }, failure.message);
  process.exit(1);
}
