// A CPMS client of the command feed (docs/feed.md): list, then watch with a cursor, survive being
// killed and restarted, and forward every command unchanged.
//
//   COORDINATOR_URL=http://localhost:4000/graphql API_KEY=<key> [SITE_ID=depot-1] \
//   [CURSOR_FILE=.cpms-cursor] npx tsx examples/cpms-client.ts
//
// 1. No cursor file yet: setpointSnapshot gives the current setpoints and the cursor they are
//    current as of. Each is forwarded, then the cursor is saved.
// 2. setpointChanged(after: cursor) over graphql-ws: every command committed after the cursor
//    (replayed from the outbox, then live), in commit order. Each is forwarded, then its cursor
//    saved (written to a temporary file and renamed: a crash never leaves half a cursor).
// 3. A dropped connection or a restart subscribes again after the saved cursor: nothing is missed
//    and nothing already saved comes twice. (Killed between forwarding and saving, the command
//    comes once more: forward it idempotently, by commandId, as a charger does with a profile of
//    the same chargingProfileId.) CURSOR_EXPIRED (offline longer than the retention): the cursor
//    file is deleted and the client lists again.
// SIGINT / SIGTERM stop it after the command in hand is forwarded and saved.
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { type Client, createClient } from "graphql-ws";
import WebSocket from "ws";

const url = process.env.COORDINATOR_URL ?? "http://localhost:4000/graphql";
const key = process.env.API_KEY ?? "";
const siteId = process.env.SITE_ID || null;
const cursorFile = process.env.CURSOR_FILE ?? ".cpms-cursor";
if (!key) {
  console.error("API_KEY must be set (a key with the role cpms or admin)");
  process.exit(2);
}

/** The fields forwarded: what the charger (through the CPMS's OCPP connection) needs. */
const COMMAND =
  "cursor commandId sessionId chargePointId connectorId setpointKw limitedBy commandTs ocppVersion ocppRequest";
const SNAPSHOT = `query ($siteId: ID) { setpointSnapshot(siteId: $siteId) {
  cursor setpoints { sessionId chargePointId connectorId setpointKw commandedKw limitedBy updatedAt } } }`;
const WATCH = `subscription ($siteId: ID, $after: String) {
  setpointChanged(siteId: $siteId, after: $after) { command { ${COMMAND} } } }`;

type Payload = Record<string, unknown>;

/** Hands a payload on unchanged; here: one JSON line on stdout. A real CPMS sends it to the charger. */
function forward(kind: "setpoint" | "command", payload: Payload): void {
  process.stdout.write(`${JSON.stringify({ kind, payload })}\n`);
}

function loadCursor(): string | null {
  if (!existsSync(cursorFile)) return null;
  const text = readFileSync(cursorFile, "utf8").trim();
  return /^[0-9]+$/.test(text) ? text : null;
}

function saveCursor(cursor: string): void {
  const temporary = `${cursorFile}.tmp`;
  writeFileSync(temporary, `${cursor}\n`);
  renameSync(temporary, cursorFile);
}

async function list(): Promise<string> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: JSON.stringify({ query: SNAPSHOT, variables: { siteId } }),
  });
  const body = (await res.json()) as {
    data?: { setpointSnapshot: { cursor: string; setpoints: Payload[] } };
    errors?: unknown[];
  };
  if (!body.data) throw new Error(`setpointSnapshot failed: ${JSON.stringify(body.errors)}`);
  for (const setpoint of body.data.setpointSnapshot.setpoints) forward("setpoint", setpoint);
  saveCursor(body.data.setpointSnapshot.cursor);
  return body.data.setpointSnapshot.cursor;
}

let stopping = false;
let client: Client | null = null;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    stopping = true;
    void client?.dispose();
  });
}

/** One subscription after `after`; resolves with the last cursor saved when it ends. */
function watch(after: string): Promise<{ cursor: string; expired: boolean }> {
  return new Promise((resolve) => {
    let cursor = after;
    const wsUrl = url.replace(/^http/, "ws");
    client = createClient({
      url: wsUrl,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${key}` },
      retryAttempts: 0,
    });
    const done = (expired: boolean) => {
      void client?.dispose();
      resolve({ cursor, expired });
    };
    client.subscribe<{ setpointChanged: { command: Payload & { cursor: string } } }>(
      { query: WATCH, variables: { siteId, after } },
      {
        next: (value) => {
          const command = value.data?.setpointChanged.command;
          if (command) {
            forward("command", command);
            saveCursor(command.cursor);
            cursor = command.cursor;
          }
          if (value.errors) console.error("feed error:", JSON.stringify(value.errors));
        },
        error: (error) => {
          const expired = JSON.stringify(error).includes("CURSOR_EXPIRED");
          if (!stopping) console.error("feed interrupted:", expired ? "CURSOR_EXPIRED" : String(error));
          done(expired);
        },
        complete: () => done(false),
      },
    );
  });
}

async function main(): Promise<void> {
  let cursor = loadCursor() ?? (await list());
  console.error(`watching after cursor ${cursor}${siteId ? ` (site ${siteId})` : ""}`);
  let attempt = 0;
  while (!stopping) {
    const ended = await watch(cursor);
    if (ended.cursor !== cursor) attempt = 0;
    cursor = ended.cursor;
    if (stopping) break;
    if (ended.expired) {
      rmSync(cursorFile, { force: true });
      cursor = await list();
      continue;
    }
    attempt += 1;
    await new Promise((r) => setTimeout(r, Math.min(10_000, 250 * 2 ** Math.min(attempt, 6))));
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
