// The CPMS stand-in: one graphql-ws subscription to setpointChanged for every site, as a charge
// point management system would hold, routing each command to the charger it is for. Events come
// in commit order, so once a session's last command of a step is in, its earlier ones are too.
import { type Client, createClient } from "graphql-ws";
import WebSocket from "ws";

export interface SetpointCommand {
  readonly commandId: string;
  readonly siteId: string;
  readonly sessionId: string;
  readonly chargePointId: string;
  readonly setpointKw: number;
  /** The session's previous command (null for its first). */
  readonly previousKw: number | null;
  readonly commandedAt: string;
  readonly limitedBy: string;
  readonly priceTier: string;
}

interface AlertEvent {
  readonly id: string;
  readonly type: string;
  readonly siteId: string;
  readonly status: string;
}

type Handler = (command: SetpointCommand) => void;

/** A command the CPMS expects: this session, this value, issued at this (virtual) time. */
export interface ExpectedCommand {
  readonly sessionId: string;
  readonly setpointKw: number;
  readonly commandedAtMs: number;
}

interface Waiter {
  readonly pending: ExpectedCommand[];
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/** Commands remembered per session, to match expectations registered after they arrived. */
const RECENT_PER_SESSION = 8;

const matches = (e: ExpectedCommand, c: SetpointCommand) =>
  c.sessionId === e.sessionId &&
  Math.abs(c.setpointKw - e.setpointKw) < 1e-6 &&
  Date.parse(c.commandedAt) === e.commandedAtMs;

/** Commands by kind: first commands, increases, decreases, and decreases by less than 0.5 kW. */
export interface CommandKinds {
  first: number;
  increases: number;
  decreases: number;
  smallDecreases: number;
}

const SETPOINTS = `subscription { setpointChanged { commandId siteId sessionId chargePointId setpointKw previousKw commandedAt limitedBy priceTier } }`;
const ALERTS = `subscription { alertChanged { id type siteId status } }`;

export class CpmsStandIn {
  private readonly routes = new Map<string, Handler>();
  private readonly waiters = new Set<Waiter>();
  private readonly seen = new Set<string>();
  private readonly recent = new Map<string, SetpointCommand[]>();
  private failure: Error | null = null;
  private readonly disposers: (() => void)[] = [];
  /** Commands received (after de-duplication by command id). */
  received = 0;
  /** Of those: first commands, increases, decreases, and decreases by less than 0.5 kW. */
  readonly kinds: CommandKinds = { first: 0, increases: 0, decreases: 0, smallDecreases: 0 };
  /** The same, per site. */
  readonly kindsBySite = new Map<string, CommandKinds>();
  /** Alerts raised, per site and type (an alert is raised once, then updated until cleared). */
  readonly alertsRaised = new Map<string, Map<string, number>>();
  private readonly alertIds = new Set<string>();

  private constructor(private readonly client: Client) {}

  static async connect(wsUrl: string, apiKey: string): Promise<CpmsStandIn> {
    const client = createClient({
      url: wsUrl,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${apiKey}` },
      retryAttempts: 0,
      lazy: false,
    });
    await new Promise<void>((resolve, reject) => {
      const offConnected = client.on("connected", () => {
        offConnected();
        resolve();
      });
      client.on("closed", (event) => reject(new Error(`graphql-ws closed: ${JSON.stringify(event)}`)));
      client.on("error", (error) => reject(error instanceof Error ? error : new Error(String(error))));
    });
    const cpms = new CpmsStandIn(client);
    cpms.subscribe();
    return cpms;
  }

  private subscribe(): void {
    const fail = (error: unknown) => this.fail(new Error(`subscription failed: ${JSON.stringify(error)}`));
    this.disposers.push(
      this.client.subscribe<{ setpointChanged: SetpointCommand }>(
        { query: SETPOINTS },
        {
          next: (value) => {
            if (value.errors?.length) fail(value.errors);
            if (value.data) this.onCommand(value.data.setpointChanged);
          },
          error: fail,
          complete: () => this.fail(new Error("setpointChanged completed")),
        },
      ),
      this.client.subscribe<{ alertChanged: AlertEvent }>(
        { query: ALERTS },
        {
          next: (value) => {
            const alert = value.data?.alertChanged;
            if (alert?.status !== "ACTIVE" || this.alertIds.has(alert.id)) return;
            this.alertIds.add(alert.id);
            const bySite = this.alertsRaised.get(alert.siteId) ?? new Map<string, number>();
            bySite.set(alert.type, (bySite.get(alert.type) ?? 0) + 1);
            this.alertsRaised.set(alert.siteId, bySite);
          },
          error: fail,
          complete: () => {},
        },
      ),
    );
  }

  /** Commands for this site go to `handler`. */
  route(siteId: string, handler: Handler): void {
    this.routes.set(siteId, handler);
  }

  /** Resolves once every expected command has been received (before or after this call). */
  waitForCommands(expected: readonly ExpectedCommand[], timeoutMs = 10_000): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const pending = expected.filter((e) => !(this.recent.get(e.sessionId) ?? []).some((c) => matches(e, c)));
    if (pending.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        pending,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          reject(new Error(`setpoint commands not received within ${timeoutMs} ms: ${JSON.stringify(waiter.pending)}`));
        }, timeoutMs),
      };
      this.waiters.add(waiter);
    });
  }

  private onCommand(command: SetpointCommand): void {
    // At-least-once delivery: a command id seen before is not applied twice.
    if (this.seen.has(command.commandId)) return;
    this.seen.add(command.commandId);
    this.received += 1;
    this.count(command);
    const recent = this.recent.get(command.sessionId) ?? [];
    recent.push(command);
    if (recent.length > RECENT_PER_SESSION) recent.shift();
    this.recent.set(command.sessionId, recent);
    this.routes.get(command.siteId)?.(command);
    for (const waiter of this.waiters) {
      const i = waiter.pending.findIndex((e) => matches(e, command));
      if (i >= 0) waiter.pending.splice(i, 1);
      if (waiter.pending.length > 0) continue;
      clearTimeout(waiter.timer);
      this.waiters.delete(waiter);
      waiter.resolve();
    }
  }

  private count(command: SetpointCommand): void {
    let site = this.kindsBySite.get(command.siteId);
    if (!site) {
      site = { first: 0, increases: 0, decreases: 0, smallDecreases: 0 };
      this.kindsBySite.set(command.siteId, site);
    }
    for (const kinds of [this.kinds, site]) {
      const previous = command.previousKw;
      if (previous === null) kinds.first += 1;
      else if (command.setpointKw > previous) kinds.increases += 1;
      else {
        kinds.decreases += 1;
        if (previous - command.setpointKw < 0.5) kinds.smallDecreases += 1;
      }
    }
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer);
      waiter.reject(error);
    }
    this.waiters.clear();
  }

  async close(): Promise<void> {
    for (const dispose of this.disposers) dispose();
    this.failure ??= new Error("closed");
    await this.client.dispose();
  }
}
