// What the batch ingest mutations share: their result type, their size bound, and the
// all-or-nothing validation that reports every bad item by index.
import { badUserInput } from "../api/errors.js";
import type { InputStream } from "../ingest/streams.js";
import { checkBatch } from "../ingest/validate.js";
import { builder } from "./builder.js";

export const IngestResultRef = builder.objectRef<{ accepted: number }>("IngestResult").implement({
  fields: (t) => ({ accepted: t.exposeInt("accepted") }),
});

export const MAX_BATCH = 10_000;

export const BATCH_DESCRIPTION = `All or nothing, in one statement: every bad item is reported by index. At most ${MAX_BATCH} items.`;

/** The batch's validated values, or BAD_USER_INPUT naming the size or every bad item by index. */
export function validBatch<T>(inputs: readonly Readonly<Record<string, unknown>>[], stream: InputStream<T>): T[] {
  if (inputs.length > MAX_BATCH) {
    throw badUserInput([{ field: "inputs", message: `holds ${inputs.length} items; at most ${MAX_BATCH} per batch` }]);
  }
  const checked = checkBatch(inputs, stream.check);
  if (!checked.ok) throw badUserInput(checked.issues);
  return checked.value;
}
