// GraphiQL in a real (headless) browser with the internet cut off: the page renders from the
// service's own assets, runs a query with the key typed into its headers editor, and a
// subscription over graphql-ws authenticates with that key and receives an event.
import { existsSync } from "node:fs";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startTestApp, TEST_KEYS, type TestApp } from "../helpers/app.js";
import { setClock, T0 } from "../helpers/events.js";
import { until } from "../helpers/until.js";

const CHROMIUM = "/usr/bin/chromium";

let t: TestApp;
let browser: Browser;
const blocked: string[] = [];

beforeAll(async () => {
  t = await startTestApp();
  await setClock(t.database.pool, T0);
  await t.gql(`mutation ($input: SiteDemandInput!) { recordSiteDemand(input: $input) { id } }`, {
    input: { siteId: "gq-site", demandLimitKw: 50, currentDemandKw: 0, evLoadKw: 0, measuredTs: T0 },
  });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await t?.stop();
});

async function openGraphiQL(query: string): Promise<Page> {
  const page = await browser.newPage();
  // Nothing may come from outside this machine: every other request is refused and recorded.
  await page.route("**/*", (route) => {
    const { hostname } = new URL(route.request().url());
    if (hostname === "localhost" || hostname === "127.0.0.1") return route.continue();
    blocked.push(route.request().url());
    return route.abort();
  });
  await page.goto(`${t.url}?query=${encodeURIComponent(query)}`);
  await page.locator(".graphiql-container .monaco-editor").first().waitFor({ timeout: 30_000 });
  return page;
}

/** Types the headers into GraphiQL's headers editor, as a person would. */
async function typeHeaders(page: Page, headers: Record<string, string>): Promise<void> {
  await page.locator('button[data-name="headers"]').click();
  const editor = page.locator(".graphiql-editor-tool .monaco-editor").last();
  await editor.click();
  await page.keyboard.press("ControlOrMeta+A");
  await page.keyboard.press("Delete");
  await page.keyboard.insertText(JSON.stringify(headers));
}

async function run(page: Page): Promise<void> {
  await page.locator(".graphiql-execute-button").click();
}

/** The response pane's text, without the (non-breaking) spaces the editor lays it out with. */
const responseText = async (page: Page) =>
  ((await page.locator(".graphiql-response").textContent()) ?? "").replace(/\s+/g, "");

const waitFor = (condition: () => Promise<boolean>, what: string) =>
  until(condition, { what, timeoutMs: 20_000, intervalMs: 100 });

describe.skipIf(!existsSync(CHROMIUM) && process.env.CI !== "true")("GraphiQL, offline", () => {
  test("renders from local assets and runs a query with the key from its headers editor", async () => {
    const page = await openGraphiQL("{ sites { id } __typename }");
    try {
      await typeHeaders(page, { Authorization: `Bearer ${TEST_KEYS.reader}` });
      await run(page);
      await waitFor(async () => (await responseText(page)).includes('"__typename":"Query"'), "the query result");
      expect(blocked).toEqual([]);
    } finally {
      await page.close();
    }
  }, 90_000);

  test("without a key the query is refused (the page itself needs none)", async () => {
    const page = await openGraphiQL("{ __typename }");
    try {
      await typeHeaders(page, {});
      await run(page);
      await waitFor(async () => (await responseText(page)).includes("UNAUTHENTICATED"), "the 401 answer");
    } finally {
      await page.close();
    }
  }, 90_000);

  test("a subscription authenticates over graphql-ws with that key and receives an event", async () => {
    const page = await openGraphiQL('subscription { setpointChanged(siteId: "gq-site") { sessionId siteId } }');
    try {
      await typeHeaders(page, { Authorization: `Bearer ${TEST_KEYS.cpms}` });
      await run(page);
      // Give the socket time to connect and subscribe, then cause an event.
      await new Promise((r) => setTimeout(r, 1500));
      const res = await t.gql(
        "mutation ($i: [SessionSampleInput!]!) { recordSessionSamples(inputs: $i) { accepted } }",
        {
          i: [
            {
              sessionId: "gq-session-1",
              chargePointId: "gq-cp-1",
              connectorId: 1,
              siteId: "gq-site",
              ratedPowerKw: 11,
              sessionStartTs: T0,
              sampledTs: T0,
            },
          ],
        },
      );
      expect(res.errors).toBeUndefined();
      await waitFor(async () => (await responseText(page)).includes("gq-session-1"), "the subscription event");
      expect(blocked).toEqual([]);
    } finally {
      await page.close();
    }
  }, 90_000);
});
