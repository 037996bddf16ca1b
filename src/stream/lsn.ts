// PostgreSQL log sequence numbers: 'X/Y' text (two 32-bit hex halves) <-> bigint.

const LSN_RE = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

export function parseLsn(text: string): bigint {
  const match = LSN_RE.exec(text.trim());
  if (!match) throw new Error(`not an LSN: ${JSON.stringify(text)}`);
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

export function formatLsn(value: bigint): string {
  if (value < 0n || value > 0xffff_ffff_ffff_ffffn) throw new Error(`LSN out of range: ${value}`);
  return `${(value >> 32n).toString(16).toUpperCase()}/${(value & 0xffff_ffffn).toString(16).toUpperCase()}`;
}

/** Negative, zero or positive as a is before, at or after b. */
export function compareLsn(a: string | bigint, b: string | bigint): number {
  const x = typeof a === "bigint" ? a : parseLsn(a);
  const y = typeof b === "bigint" ? b : parseLsn(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
