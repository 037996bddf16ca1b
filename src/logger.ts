import pino, { type Logger } from "pino";
import type { Config } from "./config.js";

export function createLogger(config: Pick<Config, "logLevel">): Logger {
  return pino({
    level: config.logLevel,
    base: { service: "smart-charging" },
    redact: {
      paths: ["authorization", "*.authorization", "headers.authorization", "key", "*.key"],
      censor: "[redacted]",
    },
  });
}
