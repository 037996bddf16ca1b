// Unknown thrown values, normalised once (after graphile/worker's coerceError in src/lib.ts).

/** The value as an Error: an Error as it is, anything else wrapped (the original kept as `cause`). */
export function coerceError(error: unknown): Error {
  if (error instanceof Error) return error;
  const message =
    typeof error === "object" && error !== null && "message" in error && typeof error.message === "string"
      ? error.message
      : String(error);
  return new Error(message, { cause: error });
}

/** The message of any thrown value (for logs). */
export function errorMessage(error: unknown): string {
  return coerceError(error).message;
}

/** The PostgreSQL SQLSTATE of an error (five characters, e.g. '42710'), undefined for anything else. */
export function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}
