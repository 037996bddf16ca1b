// Applies pending migrations to DATABASE_URL, or to the embedded server in DATA_DIR (npm run migrate).
import { loadConfig } from "../src/config.js";
import { openDatabase } from "../src/db/database.js";
import { createLogger } from "../src/logger.js";

const config = loadConfig();
const logger = createLogger({ logLevel: config.logLevel === "silent" ? "silent" : "info" });
const database = await openDatabase(config, logger);
await database.close();
logger.info("database is migrated");
