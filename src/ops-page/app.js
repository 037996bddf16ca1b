// The operations page: sites at a glance and one site live (load chart, sessions, alerts).
// Preact + htm (no build step), the graphql-ws client for setpointChanged/alertChanged, and
// queries over HTTP: a short poll for what has no event (site demand), a refresh on every event.
// Every library comes from this service (/ops/vendor/, see the import map in index.html).
import { createClient } from "graphql-ws";
import { html } from "htm/preact";
import { render } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { HistoryChart } from "./chart.js";

const KEY_STORAGE = "scc.ops.apiKey";
/** Site figures have no change event: polled this often while the page is visible. */
const POLL_MS = 1000;
/** Sessions and alerts are re-read on every event of the site, and this often. */
const DETAIL_MS = 5000;
/** The load history is re-read this often (the live tip comes from the poll). */
const HISTORY_MS = 15_000;
/** The chart's windows: span and bucket, at most a few hundred buckets each. */
const RANGES = [
  { label: "1 h", hours: 1, bucketSeconds: 15 },
  { label: "6 h", hours: 6, bucketSeconds: 60 },
  { label: "24 h", hours: 24, bucketSeconds: 300 },
];

const LIMITED_BY = {
  RATED_POWER: "its rated power",
  MIN_RATE: "the site's minimum rate",
  NOT_ADMITTED: "not admitted: no room for the minimum rate",
  PRICE_TIER: "the price tier",
  DEMAND_RESPONSE: "a demand-response event",
  SITE_LIMIT: "the site limit",
  DEADLINE: "its departure plan (cheaper hours ahead)",
  ENERGY_MET: "requested energy delivered",
  VEHICLE_DRAW: "what the vehicle draws",
  PHASE_LIMIT: "a phase limit",
  SESSION_ENDED: "session ended",
};

const ALERT_WORDS = {
  SETPOINT_DEVIATION: "Charger not following its setpoint",
  SITE_OVER_DEMAND: "Site over its demand limit",
  DEADLINE_AT_RISK: "Departure energy at risk",
  CAPACITY_SHORTFALL: "Not enough capacity for every session",
  STALE_SITE_DATA: "Site data stale",
  SITE_DATA_MISSING: "No site data",
};

const TIER_WORDS = { OFF_PEAK: "off-peak", MID_PEAK: "mid-peak", ON_PEAK: "on-peak", CRITICAL_PEAK: "critical peak" };

const SITE_FIELDS = `id demandLimitKw currentDemandKw evLoadKw buildingLoadKw evCapKw targetKw priceTier
  priceUsdKwh curtailmentPct drEventId activeSessions policy measuredTs`;

class AuthError extends Error {}

/** A query over HTTP with the key; 401 is an AuthError (the key is asked for again). */
async function gql(key, query, variables = {}) {
  const response = await fetch("/graphql", {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: JSON.stringify({ query, variables }),
  });
  if (response.status === 401) throw new AuthError("This key was refused.");
  const body = await response.json();
  if (body.errors?.length) throw new Error(body.errors.map((e) => e.message).join("; "));
  return body.data;
}

const kw = (value, digits = 1) => (value === null || value === undefined ? "–" : `${Number(value).toFixed(digits)}`);
const time = (iso) => (iso ? new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : "–");

function until(iso, nowMs) {
  if (!iso) return "";
  const minutes = Math.round((Date.parse(iso) - nowMs) / 60_000);
  if (minutes <= 0) return "due";
  return minutes < 60 ? `in ${minutes} min` : `in ${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** performance.mark once, when the first data is on screen (the browser test reads it). */
let firstDataMarked = false;
function markFirstData() {
  if (firstDataMarked) return;
  firstDataMarked = true;
  requestAnimationFrame(() => performance.mark("ops:first-data"));
}

/**
 * Runs load() now, every everyMs while the page is visible, and whenever kick() is called (a
 * kick during a load runs it once more after). Returns { data, error } and kick.
 */
function useLive(load, deps, everyMs, onAuthFailed) {
  const [state, setState] = useState({ data: null, error: null });
  const kick = useRef(() => {});
  useEffect(() => {
    let stopped = false;
    let running = false;
    let again = false;
    let timer;
    const run = async () => {
      if (running) {
        again = true;
        return;
      }
      running = true;
      try {
        const data = await load();
        if (!stopped) setState({ data, error: null });
      } catch (error) {
        if (error instanceof AuthError) onAuthFailed(error.message);
        else if (!stopped) setState((s) => ({ data: s.data, error }));
      } finally {
        running = false;
        if (again && !stopped) {
          again = false;
          void run();
        }
      }
    };
    const tick = () => {
      if (!document.hidden) void run();
      timer = setTimeout(tick, everyMs);
    };
    tick();
    kick.current = run;
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, deps);
  return [state, useCallback(() => kick.current(), [])];
}

/** Subscribes while mounted; every event goes to onEvent (the latest one given). */
function useSubscription(client, query, variables, onEvent, deps) {
  const handler = useRef(onEvent);
  handler.current = onEvent;
  useEffect(() => {
    if (!client) return undefined;
    return client.subscribe(
      { query, variables },
      {
        next: (result) => result.data && handler.current(result.data),
        error: () => {},
        complete: () => {},
      },
    );
  }, [client, ...deps]);
}

function KeyForm({ message, onKey }) {
  const [value, setValue] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(message);
  const submit = async (event) => {
    event.preventDefault();
    const key = value.trim();
    if (!key) return setError("Enter an API key.");
    setBusy(true);
    try {
      await gql(key, "{ __typename }");
      onKey(key);
    } catch (e) {
      setError(e.message);
    } finally {
      setBusy(false);
    }
  };
  return html`<main class="key-form">
    <h1>Operations</h1>
    <form onSubmit=${submit}>
      <label for="api-key">API key</label>
      <input id="api-key" name="api-key" type="password" autocomplete="off" value=${value}
        onInput=${(e) => setValue(e.currentTarget.value)} />
      <button type="submit" disabled=${busy}>Connect</button>
      ${error && html`<p class="error" role="alert">${error}</p>`}
      <p class="hint">The key is kept for this browser tab only (session storage).</p>
    </form>
  </main>`;
}

function TierChip({ tier }) {
  return html`<span class=${`chip tier-${tier}`}>${TIER_WORDS[tier] ?? tier}</span>`;
}

function DrChip({ site }) {
  if (!site.drEventId && !(site.curtailmentPct > 0)) return null;
  return html`<span class="chip dr">DR −${kw(site.curtailmentPct, 0)} %</span>`;
}

/** Demand against the limit as a bar, with the EV cap and target marked. */
function LoadBar({ site }) {
  const limit = site.demandLimitKw;
  if (!limit) return html`<div class="bar empty">no demand limit yet</div>`;
  const pct = (v) => `${Math.max(0, Math.min(100, ((v ?? 0) / limit) * 100))}%`;
  const ratio = (site.currentDemandKw ?? 0) / limit;
  const level = ratio >= 1 ? "over" : ratio >= 0.9 ? "near" : "ok";
  return html`<div class="bar" title="demand against the limit">
    <div class=${`fill building`} style=${{ width: pct(site.buildingLoadKw) }}></div>
    <div class=${`fill ev ${level}`} style=${{ left: pct(site.buildingLoadKw), width: pct(site.evLoadKw) }}></div>
  </div>`;
}

function Overview({ keyValue, client, onAuthFailed }) {
  const [{ data, error }, refresh] = useLive(
    () => gql(keyValue, `{ sites { ${SITE_FIELDS} } alerts(activeOnly: true) { id siteId type } }`),
    [keyValue],
    POLL_MS,
    onAuthFailed,
  );
  useSubscription(client, "subscription { setpointChanged { siteId } }", {}, refresh, []);
  useSubscription(client, "subscription { alertChanged { siteId } }", {}, refresh, []);
  useEffect(() => {
    if (data) markFirstData();
  }, [data]);
  if (!data) return html`<p class="loading">${error ? error.message : "Loading sites…"}</p>`;
  const alertsBySite = new Map();
  for (const a of data.alerts) alertsBySite.set(a.siteId, [...(alertsBySite.get(a.siteId) ?? []), a]);
  return html`<main>
    <h1>Sites</h1>
    ${error && html`<p class="error">${error.message}</p>`}
    ${data.sites.length === 0 && html`<p>No site has reported yet.</p>`}
    <div class="cards">
      ${data.sites.map((site) => {
        const alerts = alertsBySite.get(site.id) ?? [];
        return html`<a class="card" href=${`#/site/${encodeURIComponent(site.id)}`} data-site=${site.id}>
          <div class="card-head"><strong>${site.id}</strong><${TierChip} tier=${site.priceTier} /><${DrChip} site=${site} /></div>
          <${LoadBar} site=${site} />
          <dl>
            <dt>Load / limit</dt><dd><span data-field="demand">${kw(site.currentDemandKw)}</span> / ${kw(site.demandLimitKw)} kW</dd>
            <dt>EV load</dt><dd>${kw(site.evLoadKw)} kW</dd>
            <dt>EV cap C · target T</dt><dd>${kw(site.evCapKw)} · ${kw(site.targetKw)} kW</dd>
            <dt>Sessions</dt><dd data-field="sessions">${site.activeSessions}</dd>
            <dt>Alerts</dt><dd class=${alerts.length ? "alerting" : ""} data-field="alerts">${alerts.length}</dd>
          </dl>
        </a>`;
      })}
    </div>
  </main>`;
}

function SiteFigures({ site }) {
  const items = [
    ["Demand", `${kw(site.currentDemandKw)} kW`, "demand"],
    ["Limit", `${kw(site.demandLimitKw)} kW`, "limit"],
    ["Building", `${kw(site.buildingLoadKw)} kW`, "building"],
    ["EV load", `${kw(site.evLoadKw)} kW`, "ev"],
    ["EV cap C", `${kw(site.evCapKw)} kW`, "cap"],
    ["Target T", `${kw(site.targetKw)} kW`, "target"],
  ];
  return html`<div class="figures">
    ${items.map(([label, value, field]) => html`<div class="figure"><span>${label}</span><strong data-field=${field}>${value}</strong></div>`)}
    <div class="figure"><span>Price</span><strong><${TierChip} tier=${site.priceTier} /> ${site.priceUsdKwh.toFixed(2)} $/kWh</strong></div>
    <div class="figure"><span>Demand response</span><strong>${site.drEventId || site.curtailmentPct > 0 ? `−${kw(site.curtailmentPct, 0)} %` : "none"}</strong></div>
    <div class="figure"><span>Policy</span><strong>${site.policy.replace("_", " ").toLowerCase()}</strong></div>
    <div class="figure"><span>Measured</span><strong>${time(site.measuredTs)}</strong></div>
  </div>`;
}

function Sessions({ sessions, nowMs }) {
  if (sessions.length === 0) return html`<p>No active session.</p>`;
  return html`<div class="table-wrap"><table class="sessions">
    <thead><tr><th>Session</th><th>Charger</th><th class="num">Setpoint kW</th><th class="num">Commanded kW</th>
      <th>Limited by</th><th class="num">Drawing kW</th><th class="num">Energy kWh</th><th>Departure</th></tr></thead>
    <tbody>${sessions.map((s) => {
      const sp = s.setpoint;
      const energy =
        s.energyKwh === null && s.requestedEnergyKwh === null
          ? "–"
          : `${kw(s.energyKwh)}${s.requestedEnergyKwh !== null ? ` of ${kw(s.requestedEnergyKwh)}` : ""}`;
      return html`<tr data-session=${s.id}>
        <td>${s.id}</td>
        <td>${s.chargePointId} #${s.connectorId}</td>
        <td class="num" data-field="setpoint">${sp ? kw(sp.setpointKw, 2) : "–"}</td>
        <td class="num" data-field="commanded">${sp ? kw(sp.commandedKw, 2) : "–"}</td>
        <td>${sp ? (LIMITED_BY[sp.limitedBy] ?? sp.limitedBy.toLowerCase()) : "–"}</td>
        <td class="num">${kw(s.currentPowerKw)} <small>/ ${kw(s.ratedPowerKw)}</small></td>
        <td class="num">${energy}</td>
        <td>${s.departureTs ? `${time(s.departureTs)} (${until(s.departureTs, nowMs)})` : "–"}</td>
      </tr>`;
    })}</tbody>
  </table></div>`;
}

/** Cleared alerts shown under the active ones. */
const RECENT_CLEARED = 8;

function Alerts({ alerts }) {
  if (alerts.length === 0) return html`<p>No alert.</p>`;
  const shown = [
    ...alerts.filter((a) => a.status === "ACTIVE"),
    ...alerts.filter((a) => a.status !== "ACTIVE").slice(0, RECENT_CLEARED),
  ];
  return html`<ul class="alerts">
    ${shown.map(
      (a) => html`<li class=${`alert ${a.status === "ACTIVE" ? "active" : "cleared"}`} data-alert=${a.type}>
        <span class="chip">${a.status === "ACTIVE" ? "active" : `cleared ${time(a.clearedAt)}`}</span>
        <strong>${ALERT_WORDS[a.type] ?? a.type}</strong>
        <small>${time(a.raisedAt)}${a.sessionId ? ` · ${a.sessionId}` : ""}</small>
        <div>${a.message}</div>
      </li>`,
    )}
  </ul>`;
}

/** Polled every second: small, so a demand change shows fast. */
const FIGURES_QUERY = `query ($id: ID!) { clock { now } site(id: $id) { ${SITE_FIELDS} } }`;

/** Re-read on every event of the site and every few seconds (what vehicles draw has no event). */
const DETAIL_QUERY = `query ($id: ID!) {
  sessions(siteId: $id, activeOnly: true) {
    id chargePointId connectorId ratedPowerKw currentPowerKw socPct energyKwh requestedEnergyKwh departureTs
    setpoint { setpointKw commandedKw limitedBy updatedAt }
  }
  alerts(siteId: $id, activeOnly: false, first: 30) { id type status raisedAt clearedAt message sessionId }
}`;

const HISTORY_QUERY = `query ($id: ID!, $from: DateTime!, $to: DateTime!, $bucket: Int!) {
  siteHistory(siteId: $id, from: $from, to: $to, bucketSeconds: $bucket) {
    start demandKw buildingKw evLoadKw commandedKw limitKw targetKw evCapKw priceTier drActive
  }
}`;

function SitePage({ keyValue, client, siteId, onAuthFailed }) {
  const [range, setRange] = useState(RANGES[1]);
  const [figures] = useLive(
    () => gql(keyValue, FIGURES_QUERY, { id: siteId }),
    [keyValue, siteId],
    POLL_MS,
    onAuthFailed,
  );
  const [detail, refresh] = useLive(
    () => gql(keyValue, DETAIL_QUERY, { id: siteId }),
    [keyValue, siteId],
    DETAIL_MS,
    onAuthFailed,
  );
  const [history] = useLive(
    async () => {
      const { clock } = await gql(keyValue, "{ clock { now } }");
      const to = Date.parse(clock.now);
      const from = to - range.hours * 3_600_000;
      const result = await gql(keyValue, HISTORY_QUERY, {
        id: siteId,
        from: new Date(from).toISOString(),
        to: new Date(to).toISOString(),
        bucket: range.bucketSeconds,
      });
      return { from, to, buckets: result.siteHistory };
    },
    [keyValue, siteId, range],
    HISTORY_MS,
    onAuthFailed,
  );
  // A new setpoint shows at once from the event itself; the refresh that follows brings the rest.
  const [patches, setPatches] = useState({});
  useSubscription(
    client,
    `subscription ($id: ID) { setpointChanged(siteId: $id) { sessionId setpointKw commandedKw limitedBy updatedAt } }`,
    { id: siteId },
    (event) => {
      const sp = event.setpointChanged;
      setPatches((p) => ({ ...p, [sp.sessionId]: sp }));
      refresh();
    },
    [siteId],
  );
  useSubscription(client, "subscription ($id: ID) { alertChanged(siteId: $id) { id } }", { id: siteId }, refresh, [
    siteId,
  ]);
  const ready = figures.data && detail.data;
  useEffect(() => {
    if (ready) markFirstData();
  }, [ready]);
  const error = figures.error ?? detail.error;
  if (!ready) return html`<p class="loading">${error ? error.message : "Loading the site…"}</p>`;
  const data = { ...figures.data, ...detail.data };
  const site = data.site;
  if (!site) return html`<main><p>No site ${siteId}.</p><a href="#/">All sites</a></main>`;
  const nowMs = Date.parse(data.clock.now);
  // An event newer than the last answer wins until an answer catches up with it.
  const sessions = data.sessions.map((s) => {
    const patch = patches[s.id];
    return patch && (!s.setpoint || patch.updatedAt > s.setpoint.updatedAt)
      ? { ...s, setpoint: { ...(s.setpoint ?? {}), ...patch } }
      : s;
  });
  const commandedKw = sessions.reduce((sum, s) => sum + (s.setpoint?.commandedKw ?? 0), 0);
  const active = data.alerts.filter((a) => a.status === "ACTIVE").length;
  return html`<main class="site" data-site-page=${site.id}>
    <nav class="crumbs"><a href="#/">All sites</a> › <strong>${site.id}</strong></nav>
    ${error && html`<p class="error">${error.message}</p>`}
    <${SiteFigures} site=${site} />
    <section>
      <div class="section-head">
        <h2>Load</h2>
        <div class="ranges">${RANGES.map(
          (r) => html`<button class=${r === range ? "on" : ""} onClick=${() => setRange(r)}>${r.label}</button>`,
        )}</div>
      </div>
      <${HistoryChart} history=${history.data} site=${{ ...site, commandedKw }} nowMs=${nowMs} />
    </section>
    <section>
      <h2>Sessions <small>${sessions.length}</small></h2>
      <${Sessions} sessions=${sessions} nowMs=${nowMs} />
    </section>
    <section>
      <h2>Alerts <small>${active} active</small></h2>
      <${Alerts} alerts=${data.alerts} />
    </section>
  </main>`;
}

const routeOf = (hash) => {
  const match = /^#\/site\/(.+)$/.exec(hash);
  return match ? { siteId: decodeURIComponent(match[1]) } : { siteId: null };
};

function App() {
  const [key, setKey] = useState(() => sessionStorage.getItem(KEY_STORAGE));
  const [message, setMessage] = useState(null);
  const [route, setRoute] = useState(() => routeOf(location.hash));
  const [client, setClient] = useState(null);
  const [live, setLive] = useState(false);
  const forget = useCallback((reason) => {
    sessionStorage.removeItem(KEY_STORAGE);
    setMessage(reason ?? null);
    setKey(null);
  }, []);
  useEffect(() => {
    const onHash = () => setRoute(routeOf(location.hash));
    addEventListener("hashchange", onHash);
    return () => removeEventListener("hashchange", onHash);
  }, []);
  useEffect(() => {
    if (!key) return undefined;
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/graphql`;
    const ws = createClient({
      url,
      connectionParams: { authorization: `Bearer ${key}` },
      retryAttempts: Number.POSITIVE_INFINITY,
      shouldRetry: (event) => event?.code !== 4401 && event?.code !== 4403,
      on: {
        connected: () => setLive(true),
        closed: (event) => {
          setLive(false);
          if (event?.code === 4401) forget("This key was refused.");
        },
      },
    });
    setClient(ws);
    return () => {
      setClient(null);
      void ws.dispose();
    };
  }, [key, forget]);
  if (!key)
    return html`<${KeyForm}
      message=${message}
      onKey=${(k) => {
        sessionStorage.setItem(KEY_STORAGE, k);
        setMessage(null);
        setKey(k);
      }}
    />`;
  const props = { keyValue: key, client, onAuthFailed: forget };
  return html`<div class="shell">
    <header>
      <a class="brand" href="#/">Smart charging · operations</a>
      <span class=${`live ${live ? "on" : ""}`} title="graphql-ws">${live ? "live" : "connecting…"}</span>
      <button class="link" onClick=${() => forget(null)}>Forget key</button>
    </header>
    ${route.siteId ? html`<${SitePage} ...${props} siteId=${route.siteId} />` : html`<${Overview} ...${props} />`}
  </div>`;
}

const root = document.getElementById("app");
root.textContent = "";
render(html`<${App} />`, root);
