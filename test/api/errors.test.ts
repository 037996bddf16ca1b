// What counts as "the database is unreachable" (retryable, nothing applied), and the key in a
// graphql-ws connection_init payload.
import { GraphQLError } from "graphql";
import { createGraphQLError } from "graphql-yoga";
import { describe, expect, test } from "vitest";
import { authorizationFromConnectionParams } from "../../src/access/gate.js";
import { isDatabaseUnavailable, subscriptionSource } from "../../src/api/errors.js";
import { coerceError } from "../../src/lib/errors.js";
import type { AlertEvent } from "../../src/stream/events.js";
import { Fanout, SubscriberTooSlowError } from "../../src/stream/fanout.js";

const pgError = (code: string, message = "x") => Object.assign(new Error(message), { code });

describe("isDatabaseUnavailable", () => {
  test.each([
    ["ECONNREFUSED", Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" })],
    ["ECONNRESET", pgError("ECONNRESET")],
    ["57P01 admin_shutdown", pgError("57P01", "terminating connection due to administrator command")],
    ["57P03 cannot_connect_now", pgError("57P03", "the database system is starting up")],
    ["08006 connection_failure", pgError("08006")],
    ["Connection terminated", new Error("Connection terminated unexpectedly")],
    ["pool connect timeout", new Error("timeout exceeded when trying to connect")],
    ["pool ended", new Error("Cannot use a pool after calling end on the pool")],
    ["Kysely destroyed", new Error("driver has already been destroyed")],
    ["AggregateError of refusals", new AggregateError([pgError("ECONNREFUSED")], "")],
    ["wrapped by GraphQL", createGraphQLError("x", { originalError: pgError("57P01") })],
    ["as a cause", new Error("query failed", { cause: pgError("ECONNREFUSED") })],
  ])("%s: unavailable", (_name, error) => {
    expect(isDatabaseUnavailable(error)).toBe(true);
  });

  test.each([
    ["unique violation", pgError("23505", "duplicate key value")],
    ["syntax error", pgError("42601")],
    ["check violation", pgError("23514")],
    ["a plain bug", new TypeError("cannot read properties of undefined")],
    ["not an object", "ECONNREFUSED"],
  ])("%s: not unavailable", (_name, error) => {
    expect(isDatabaseUnavailable(error)).toBe(false);
  });
});

test("coerceError keeps errors and wraps the rest", () => {
  const error = new Error("e");
  expect(coerceError(error)).toBe(error);
  expect(coerceError("text").message).toBe("text");
  expect(coerceError({ message: "m", code: "X" })).toMatchObject({ message: "m", code: "X" });
  expect(coerceError(42).message).toMatch(/42/);
});

test("the key in connection_init: authorization, Authorization, or a headers object", () => {
  expect(authorizationFromConnectionParams({ authorization: "Bearer a" })).toBe("Bearer a");
  expect(authorizationFromConnectionParams({ Authorization: "Bearer b" })).toBe("Bearer b");
  expect(authorizationFromConnectionParams({ headers: { Authorization: "Bearer c" } })).toBe("Bearer c");
  expect(authorizationFromConnectionParams({ headers: { authorization: "Bearer d" } })).toBe("Bearer d");
  expect(authorizationFromConnectionParams({ headers: "Bearer e" })).toBeNull();
  expect(authorizationFromConnectionParams({})).toBeNull();
  expect(authorizationFromConnectionParams(undefined)).toBeNull();
});

describe("subscriptionSource", () => {
  test("a subscriber that fell behind ends with the code SUBSCRIBER_TOO_SLOW; the stream itself knows no GraphQL", async () => {
    const fanout = new Fanout(2);
    const events = fanout.subscribe("alert", { siteId: "a", allowedSites: null });
    const source = subscriptionSource(events);
    const alert = (id: string): AlertEvent => ({
      kind: "alert",
      id,
      cursor: id,
      type: "STALE_SITE_DATA",
      siteId: "a",
      sessionId: null,
      status: "ACTIVE",
      raisedAt: new Date(0),
      updatedAt: new Date(0),
      clearedAt: null,
      message: "m",
    });
    for (const id of ["1", "2", "3"]) {
      fanout.publish({ events: [alert(id)] });
    }
    await expect(events.next()).rejects.toBeInstanceOf(SubscriberTooSlowError);
    const error = await source.next().then(
      () => null,
      (e: unknown) => e as GraphQLError,
    );
    expect(error).toBeInstanceOf(GraphQLError);
    expect(error?.extensions.code).toBe("SUBSCRIBER_TOO_SLOW");
    expect(error?.message).toMatch(/fell more than 2 events behind/);
    await source.return?.();
    expect(fanout.stats.subscribers).toBe(0);
  });
});
