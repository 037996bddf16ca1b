// Unknown thrown values, normalised once (after graphile/worker's coerceError in src/lib.ts).

/**
 * The value as an Error: an Error as it is; an error-like object as an Error with its properties
 * (a driver's `code` stays readable); anything else wrapped. The original is kept as `cause`.
 */
export function coerceError(error: unknown): Error {
  if (error instanceof Error) return error;
  if (typeof error === "object" && error !== null && "message" in error && typeof error.message === "string") {
    return Object.assign(new Error(error.message, { cause: error }), error);
  }
  const message = typeof error === "string" ? error : `Non-error thrown: ${String(error)}`;
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
