// taskbeacon console: hash-routed pages over the console's signing proxy (/api/...). No libraries,
// no build step, nothing loaded from elsewhere; every value from the API goes in as text, never HTML.
"use strict";

(() => {
  const SEARCH_KINDS = ["ip", "image", "imageDigest", "containerName", "label", "tag", "dockerId", "eni"];
  const KIND_NAMES = {
    ip: "IP address",
    image: "image",
    imageDigest: "image digest",
    containerName: "container name",
    label: "Docker label",
    tag: "task tag",
    dockerId: "Docker id",
    eni: "ENI",
  };
  const LIST_FILTERS = [
    ["cluster", "Cluster"],
    ["service", "Service"],
    ["family", "Family"],
    ["status", "Status"],
    ["launchType", "Launch type"],
    ["availabilityZone", "Availability zone"],
    ["accountId", "Account"],
    ["region", "Region"],
    ["since", "Started since"],
    ["activeAt", "Active at"],
    ["activeFrom", "Active from"],
    ["activeTo", "Active to"],
  ];
  // GET /tasks?drifted=true and GET /summary?drifted=true: only tasks drifted now (the only value).
  const DRIFTED = "drifted";
  const DRIFT_TITLE = "drifted: runs another task definition or image digest than its service's current deployment asked for (the sweep's verdict)";
  // Filters that take a time: RFC 3339, or a duration ago as on the CLI.
  const TIME_FILTERS = ["since", "activeAt", "activeFrom", "activeTo"];
  const TIME_HINT = "24h, 7d or RFC 3339";
  // What each API field is called on the page, for "check the filter named X".
  const FIELD_NAMES = {
    ...Object.fromEntries(LIST_FILTERS.map(([name, label]) => [name, label])),
    limit: "Per page", cursor: "page (cursor)", at: "at", taskId: "task id", by: "group by", confirmed: "confirmed only",
    [DRIFTED]: "Drifted only",
    ...KIND_NAMES,
  };
  const STATUSES = ["", "PROVISIONING", "PENDING", "ACTIVATING", "RUNNING", "DEACTIVATING", "STOPPING",
    "DEPROVISIONING", "STOPPED"];
  const LAUNCH_TYPES = ["", "EC2", "FARGATE", "EXTERNAL", "MANAGED_INSTANCES"];
  const CHARTS = [
    ["cluster", "Running tasks by cluster"],
    ["service", "by service"],
    ["image", "by image"],
    ["availabilityZone", "by availability zone"],
    ["launchType", "by launch type"],
  ];
  // Searches `confirmed=true` applies to: the values AWS itself states (lambdas/core/vocabulary.py).
  const CONFIRMABLE = ["ip", "eni", "image", "imageDigest"];
  // The three sources of DESIGN 3.9, as the console names them; the agent's word is a claim, the others AWS's.
  const SOURCES = ["agent", "event", "ecs-api"];
  const SOURCE_NAMES = { agent: "agent", event: "events", "ecs-api": "sweep" };
  const SOURCE_TITLES = {
    agent: "the agent: the task about itself (self-reported)",
    event: "EventBridge task state change events (AWS)",
    "ecs-api": "the sweep's ECS API reads, DescribeTasks (AWS)",
  };
  // Kinds of facts AWS owns, as in a task's sources.confirmed / selfReported / unconfirmed.
  const FACT_KINDS = [
    ["ips", "IP address", "ip", "IP addresses"],
    ["enis", "ENI", "eni", "ENIs"],
    ["images", "image", "image", "images"],
    ["imageDigests", "image digest", "imageDigest", "image digests"],
  ];
  const ECS_LABEL_PREFIX = "com.amazonaws.ecs.";
  const UNCONFIRMED_TEXT = "unconfirmed: said by the task, not by AWS";
  const LIMITS = ["25", "50", "100", "200"];
  const DEFAULT_LIMIT = "50";

  // ---- what the search box recognises ------------------------------------------------------------
  const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
  const IPV6 = /^[0-9a-f]{0,4}(:[0-9a-f]{0,4}){2,7}$/i;
  const DIGEST = /^sha256:[0-9a-f]{64}$/i;
  const DOCKER_ID = /^[0-9a-f]{64}$/i;
  const ENI = /^eni-[0-9a-z]+$/i;
  const KEY_VALUE = /^[^=\s]+=.*$/;

  /** The search kind for what was typed: {kind, value}, or null for nothing. k=v is a tag unless told. */
  function classify(text, keyValueKind) {
    const value = (text || "").trim();
    if (!value) return null;
    if (IPV4.test(value) || (value.includes("::") || (value.match(/:/g) || []).length >= 2) && IPV6.test(value)) {
      return { kind: "ip", value };
    }
    if (DIGEST.test(value)) return { kind: "imageDigest", value: value.toLowerCase() };
    if (DOCKER_ID.test(value)) return { kind: "dockerId", value: value.toLowerCase() };
    if (ENI.test(value)) return { kind: "eni", value };
    if (KEY_VALUE.test(value)) return { kind: keyValueKind === "label" ? "label" : "tag", value };
    if (/[/:.@]/.test(value)) return { kind: "image", value };
    return { kind: "containerName", value };
  }

  // ---- times: RFC 3339, or a duration ago as on the CLI (24h, -2h, 30m, 7d, 1h30m) ------------------
  const UNITS = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
  const RELATIVE = /^-?((?:\d{1,7}[smhdw])+)$/;

  function resolveTime(text, now) {
    const value = (text || "").trim();
    const match = RELATIVE.exec(value);
    if (!match) return value;
    let seconds = 0;
    for (const part of match[1].matchAll(/(\d+)([smhdw])/g)) seconds += Number(part[1]) * UNITS[part[2]];
    const at = new Date((now === undefined ? Date.now() : now) - seconds * 1000);
    return at.toISOString().replace(/\.\d{3}Z$/, "Z");
  }

  function when(value) {
    if (!value) return "–";
    const parsed = new Date(value);
    if (Number.isNaN(parsed.getTime())) return String(value);
    return parsed.toISOString().replace(/\.\d{3}Z$/, "Z");
  }

  // ---- DOM helpers (text only) -------------------------------------------------------------------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }

  function setAttrs(node, attrs) {
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      node.setAttribute(key, value === true ? "" : String(value));
    }
  }

  function append(node, children) {
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }

  function text(value) {
    if (value === null || value === undefined || value === "") return "–";
    if (Array.isArray(value)) return value.length ? value.map(text).join(", ") : "–";
    if (typeof value === "object") {
      const pairs = Object.entries(value);
      return pairs.length ? pairs.map(([k, v]) => `${k}=${text(v)}`).join(", ") : "–";
    }
    return String(value);
  }

  function hash(path, params) {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(params || {})) {
      if (value !== null && value !== undefined && value !== "") query.set(key, value);
    }
    const qs = query.toString();
    return `#${path}${qs ? `?${qs}` : ""}`;
  }

  function link(label, path, params, attrs) {
    return el("a", { href: hash(path, params), ...(attrs || {}) }, label);
  }

  function taskLink(task) {
    const id = task.taskId || task.taskArn;
    return link(task.taskId || text(task.taskArn), `/task/${encodeURIComponent(id)}`, null, { class: "mono task-link" });
  }

  function searchLink(kind, value, label) {
    if (value === null || value === undefined || value === "") return "–";
    return link(label || String(value), "/search", { [kind]: value }, { class: "mono" });
  }

  function shortDigest(digest) {
    if (!digest) return "–";
    const [algo, hex] = String(digest).split(":");
    return hex ? `${algo}:${hex.slice(0, 12)}` : String(digest).slice(0, 12);
  }

  function clusterName(value) {
    const text_ = String(value || "");
    const at = text_.lastIndexOf("cluster/");
    return at >= 0 ? text_.slice(at + "cluster/".length) : text_;
  }

  function taskIps(task) {
    const seen = [];
    for (const container of task.containers || []) {
      for (const network of container.networks || []) {
        for (const ip of network.ipv4Addresses || []) if (!seen.includes(ip)) seen.push(ip);
      }
    }
    return seen;
  }

  function statusBadge(status) {
    return status ? el("span", { class: `badge status-${status}` }, status) : "–";
  }

  function table(headers, rows, attrs) {
    return el(
      "table",
      attrs || {},
      el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, rows),
    );
  }

  // ---- the API, through the console's proxy --------------------------------------------------------
  class ApiFailure extends Error {
    constructor(status, body) {
      const err = (body && body.error) || {};
      super(`HTTP ${status} ${err.code || "error"}: ${err.message || "request failed"}${err.field ? ` (field: ${err.field})` : ""}`);
      this.status = status;
      this.code = err.code || null;
      this.apiMessage = err.message || (body ? "" : "the answer was not JSON");
      this.field = err.field || null;
    }
  }

  // The console's own refusals (server.py), as opposed to the API's answers passed through.
  const CONSOLE_REFUSALS = /printed|cross-site|answers only to Host|wrong secret/;

  /** What to do about a failure: {title, next}, a sentence each, for the error page. */
  function nextStep(error) {
    const status = error.status;
    const field = error.field;
    const named = field ? FIELD_NAMES[field] || field : null;
    if (status === 0) {
      return { title: "The console is not answering",
        next: "Is `taskbeacon console` (or `make run`) still running? Start it again and open the URL it prints." };
    }
    if (status === 403 && error.code === "forbidden" && CONSOLE_REFUSALS.test(error.apiMessage || "")) {
      return { title: "This console session is over",
        next: "Sign in again: open the URL that `taskbeacon console` (or `make run`) printed; it carries this run's secret. A restarted console has a new one." };
    }
    if (status === 403 || status === 401) {
      return { title: "The API refused your credentials",
        next: "Sign in again: your AWS credentials expired or may not call this API (refresh them, e.g. `aws sso login`, or check the profile the console runs with), then reload this page." };
    }
    if (status === 404 && field === "taskId") {
      return { title: "No such task",
        next: "Check the task id or ARN; a task leaves the inventory after the retention period. Search for it by IP or image instead." };
    }
    if (status === 400 || status === 422) {
      return { title: "The API did not accept this question",
        next: named ? `Check the filter named "${named}" (${field}) and try again.` : "Check the filters and try again." };
    }
    if (status === 429) return { title: "Too many requests", next: "Wait a few seconds, then reload this page." };
    if (status === 502 && error.code === "console_upstream") {
      return { title: "The API is unreachable",
        next: "The console could not reach the API: is local mode running (`make run`)? Otherwise check --endpoint / TASKBEACON_ENDPOINT and your network, then reload." };
    }
    if (status >= 500) {
      return { title: "The API failed", next: "Reload to try again; if it keeps failing, the API's logs say why." };
    }
    return { title: "The request failed", next: "Reload to try again." };
  }

  /** A readable error page: what happened, what the API said, and what to do next. */
  function errorPage(error) {
    if (!(error instanceof ApiFailure)) {
      return el("section", { class: "error-page", id: "error", role: "alert", "data-status": "" },
        el("h2", {}, "Something went wrong on this page"),
        el("p", { class: "error" }, String(error && error.message || error)),
        el("p", { id: "error-next" }, "Reload to try again."));
    }
    const { title, next } = nextStep(error);
    return el("section", { class: "error-page", id: "error", role: "alert", "data-status": String(error.status), "data-field": error.field || "" },
      el("h2", {}, title),
      el("dl", { class: "facts" },
        el("dt", {}, "Status"), el("dd", { id: "error-status" }, error.status ? `HTTP ${error.status}${error.code ? ` (${error.code})` : ""}` : "no answer"),
        error.apiMessage ? [el("dt", {}, "Message"), el("dd", { id: "error-message" }, error.apiMessage)] : null,
        error.field ? [el("dt", {}, "Field"), el("dd", { id: "error-field", class: "mono" }, error.field)] : null),
      el("p", { id: "error-next" }, el("strong", {}, "What to do: "), next));
  }

  /** Thrown in place of an answer that a newer navigation has superseded: never shown. */
  class Superseded extends Error {
    constructor() {
      super("superseded by a newer navigation");
      this.superseded = true;
    }
  }

  /** The navigation in progress: its number and the AbortController that cancels its requests. */
  let navigation = { id: 0, controller: new AbortController() };

  function current(nav) {
    if (nav !== navigation) throw new Superseded();
  }

  /** One GET through the proxy, tied to the navigation it was made for: when another navigation starts,
   * the request is aborted and its answer (even an error) becomes a Superseded, never a page. */
  async function api(path, params) {
    const nav = navigation;
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(params || {})) {
      if (value !== null && value !== undefined && value !== "") query.set(key, value);
    }
    const qs = query.toString();
    let response;
    try {
      response = await fetch(`/api${path}${qs ? `?${qs}` : ""}`, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
        cache: "no-store",
        signal: nav.controller.signal,
      });
    } catch (error) {
      current(nav);
      // The console itself did not answer (stopped, or the network is gone).
      throw new ApiFailure(0, { error: { code: "console_unreachable", message: String(error && error.message || error) } });
    }
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      body = null;
    }
    current(nav);
    if (!response.ok) throw new ApiFailure(response.status, body);
    return body;
  }

  // ---- pages -------------------------------------------------------------------------------------
  const view = () => document.getElementById("view");

  function setPage(title, navId) {
    document.getElementById("title").textContent = title;
    document.title = `${title} · taskbeacon`;
    for (const id of ["nav-overview", "nav-tasks"]) {
      const nav = document.getElementById(id);
      if (id === navId) nav.setAttribute("aria-current", "page");
      else nav.removeAttribute("aria-current");
    }
  }

  /** An in-page action failed (the page itself stays): a short notice with the next step. */
  function showError(error) {
    if (error && error.superseded) return;
    const said = error instanceof ApiFailure ? `${error.message}. ${nextStep(error).next}` : error.message || String(error);
    document.getElementById("notice").replaceChildren(el("p", { class: "error" }, said));
  }

  function loading() {
    return el("p", { class: "muted", id: "loading", role: "status" }, "Loading…");
  }

  /** A bar chart of GET /summary groups. `options`: where a bar leads ({target(group)}), what it counts
   * ({noun}, "running" by default), the chart's data-dimension and what to say when there is none. */
  function chartFor(dimension, body, options) {
    const opts = options || {};
    const noun = opts.noun || "running";
    const groups = (body.groups || []).filter((g) => g && g.group !== null && g.group !== undefined);
    if (!groups.length) return el("p", { class: "muted", id: opts.emptyId || null }, opts.empty || "No running tasks.");
    const rowH = 30;
    const labelW = 230;
    const countW = 48;
    const width = 640;
    const barW = width - labelW - countW - 12;
    const max = Math.max(1, ...groups.map((g) => Number(g.running) || 0));
    const chart = svg("svg", {
      class: "chart",
      viewBox: `0 0 ${width} ${groups.length * rowH + 4}`,
      role: "list",
      "aria-label": `${noun} tasks by ${dimension}`,
      "data-dimension": opts.chart || dimension,
    });
    groups.forEach((g, i) => {
      const y = i * rowH + 2;
      const count = Number(g.running) || 0;
      const label = dimension === "cluster" ? clusterName(g.group) : String(g.group);
      const shown = label.length > 32 ? `…${label.slice(-31)}` : label;
      const target = opts.target ? opts.target(g.group)
        : dimension === "image" ? ["/search", { image: g.group }] : ["/tasks", { [dimension]: g.group, status: "RUNNING" }];
      const length = Math.max(2, (barW * count) / max);
      chart.append(
        svg(
          "a",
          {
            href: hash(...target),
            class: "bar",
            role: "listitem",
            "aria-label": `${label}: ${count} ${noun}`,
            "data-group": String(g.group),
            "data-count": String(count),
          },
          svg("title", {}, `${g.group}: ${count} ${noun}`),
          svg("rect", { class: "hit", x: 0, y, width, height: rowH - 2, rx: 3 }),
          svg("text", { class: "label", x: labelW - 8, y: y + rowH / 2, "text-anchor": "end", "dominant-baseline": "middle" }, shown),
          svg("rect", { class: "fill", x: labelW, y: y + 5, width: length, height: rowH - 12, rx: 2 }),
          svg("text", { class: "count", x: labelW + length + 6, y: y + rowH / 2, "dominant-baseline": "middle" }, String(count)),
        ),
      );
    });
    chart.append(svg("line", { class: "axis", x1: labelW, y1: 0, x2: labelW, y2: groups.length * rowH + 4 }));
    return chart;
  }

  /** What is missing for one account and region: [{key, text}] (empty when events and the sweep both reach it). */
  function coverageGaps(row) {
    const tasks = row.tasks || {};
    const count = (source) => Number(tasks[source]) || 0;
    const gaps = [];
    if (!count("event") && !row.lastEventAt && (count("agent") || count("ecs-api"))) {
      gaps.push({ key: "no-events", text: "no events", title: "tasks are known here but no EventBridge event ever came: the member stack's forwarding rule is not wired" });
    }
    if (!row.lastSweptAt) {
      gaps.push({ key: "never-swept", text: "never swept", title: "the sweep has never read this account and region: no member read-only role, or not a sweep target" });
    }
    return gaps;
  }

  function coverageRow(row) {
    const tasks = row.tasks || {};
    const gaps = coverageGaps(row);
    const count = (source) => {
      const n = Number(tasks[source]) || 0;
      return el("td", { class: n ? "num" : "num muted", "data-source": source }, String(n));
    };
    const sweep = row.lastSweep && typeof row.lastSweep === "object" ? text(row.lastSweep) : "";
    return el("tr", {
      class: gaps.length ? "gap" : null,
      "data-account": row.accountId,
      "data-region": row.region,
      "data-gaps": gaps.map((g) => g.key).join(" "),
    },
    el("td", { class: "mono" }, link(text(row.accountId), "/tasks", { accountId: row.accountId, region: row.region })),
    el("td", {}, text(row.region)),
    SOURCES.map(count),
    el("td", { class: "mono", "data-field": "lastSweptAt" }, row.lastSweptAt ? when(row.lastSweptAt) : "never",
      sweep ? el("div", { class: "muted small" }, sweep) : null),
    el("td", { class: "mono", "data-field": "lastEventAt" }, row.lastEventAt ? when(row.lastEventAt) : "never"),
    el("td", { "data-field": "wiring" }, gaps.length
      ? gaps.map((g, i) => [i ? " " : "", el("span", { class: "badge gap", title: g.title }, g.text)])
      : el("span", { class: "badge ok" }, "events and sweep")));
  }

  function coverageSection(result) {
    const heading = el("h2", { id: "coverage-title", tabindex: "-1" }, "Coverage by account and region");
    const parts = [heading];
    if (!result.ok) {
      // The summaries answered, so a 403 or 404 here is this route's: an API deployed before it, or not granted.
      const status = result.error && result.error.status;
      parts.push(el("p", { class: "error", id: "coverage-error" }, status === 403 || status === 404
        ? `Coverage is unavailable: the API answered HTTP ${status} to GET /coverage (deployed before coverage existed, or your identity may not call it).`
        : `Coverage is unavailable: ${result.error.message || result.error}`));
    } else {
      const items = result.body.items || [];
      parts.push(el("p", { class: "muted" },
        "Tasks not yet stopped that each source knows (agent: the task about itself; events: EventBridge; sweep: the ECS API), ",
        "when the sweep last read each account and region and when it last sent an event. ",
        "A highlighted row is not fully wired; an account or region missing here is reached by no source at all."));
      parts.push(items.length
        ? table(["Account", "Region", "Agent", "Events", "Sweep", "Last swept", "Last event", "Wiring"], items.map(coverageRow), { id: "coverage" })
        : el("p", { id: "coverage-empty" }, "No account or region is reached by any source yet."));
    }
    return el("section", { class: "card coverage", "aria-labelledby": "coverage-title" }, parts);
  }

  function coverageLine(result) {
    if (!result.ok) return null;
    const items = result.body.items || [];
    const gaps = items.filter((row) => coverageGaps(row).length);
    const go = el("button", { type: "button", class: "secondary small", id: "to-coverage" }, "Show coverage");
    go.addEventListener("click", () => {
      const heading = document.getElementById("coverage-title");
      heading.scrollIntoView({ block: "start" });
      heading.focus();
    });
    const said = !items.length
      ? "Coverage: no account or region reported yet. "
      : gaps.length
        ? `Coverage: ${gaps.length} of ${items.length} account-region${items.length === 1 ? "" : "s"} not fully wired. `
        : `Coverage: all ${items.length} account-region${items.length === 1 ? "" : "s"} have events and the sweep. `;
    return el("p", { id: "coverage-line", class: gaps.length ? "coverage-line gap" : "coverage-line" }, said, go);
  }

  /** Drifted running tasks per service (GET /summary?by=service&drifted=true); each bar opens them. */
  function driftCard(result) {
    const heading = el("h2", { id: "chart-drifted" }, "Drifted tasks by service");
    if (!result.ok) {
      return el("section", { class: "card drift-card", "aria-labelledby": "chart-drifted" }, heading,
        el("p", { class: "error", id: "drift-error" }, `Drift is unavailable: ${result.error.message || result.error}`));
    }
    const groups = result.body.groups || [];
    const total = result.body.total !== undefined ? result.body.total : groups.reduce((n, g) => n + (g.running || 0), 0);
    return el("section", { class: "card drift-card", "aria-labelledby": "chart-drifted", "data-total": String(total) }, heading,
      el("p", { class: "muted", id: "drift-line" },
        total ? [el("strong", {}, String(total)), ` running task${total === 1 ? "" : "s"} drifted from ${total === 1 ? "its" : "their"} service's current deployment (task definition or image digest). `, link("List them", "/tasks", { [DRIFTED]: "true" }, { id: "drift-list" }), "."]
          : "No running task has drifted from its service's current deployment (as of the sweep's last judgement)."),
      chartFor("service", result.body, {
        chart: "drifted-service",
        noun: "drifted",
        empty: "Nothing drifted.",
        emptyId: "drift-empty",
        target: (group) => ["/tasks", { service: group, [DRIFTED]: "true" }],
      }));
  }

  /** The drift badge of a task in a list, or nothing (not drifted, or never judged). */
  function driftBadge(task) {
    const drift = task.drift;
    if (!drift || drift.drifted !== true) return "";
    return el("span", { class: "badge drifted", title: DRIFT_TITLE }, "DRIFTED");
  }

  async function overview() {
    setPage("Fleet overview", "nav-overview");
    // Coverage is its own request: an API without GET /coverage still shows the charts.
    const coverage = api("/coverage").then((body) => ({ ok: true, body }), (error) => ({ ok: false, error }));
    // Drift too: an API deployed before drift (a 400 naming drifted) still shows the rest.
    const drift = api("/summary", { by: "service", [DRIFTED]: "true" }).then((body) => ({ ok: true, body }), (error) => ({ ok: false, error }));
    const bodies = await Promise.all(CHARTS.map(([by]) => api("/summary", { by })));
    const covered = await coverage;
    if (!covered.ok && covered.error instanceof Superseded) throw covered.error;
    const drifted = await drift;
    if (!drifted.ok && drifted.error instanceof Superseded) throw drifted.error;
    const total = bodies[0].total !== undefined ? bodies[0].total : (bodies[0].groups || []).reduce((n, g) => n + (g.running || 0), 0);
    const cards = CHARTS.map(([by, title], i) =>
      el("section", { class: "card", "aria-labelledby": `chart-${by}` },
        el("h2", { id: `chart-${by}` }, title),
        chartFor(by, bodies[i])),
    );
    view().replaceChildren(...[
      el("p", { class: "total", id: "total" }, el("strong", {}, String(total)), "running tasks. ",
        link("List them", "/tasks", { status: "RUNNING" }), "."),
      coverageLine(covered),
      el("div", { class: "cards" }, cards, driftCard(drifted)),
      coverageSection(covered),
    ].filter(Boolean));
  }

  function taskRows(items, withHeld) {
    return items.map((item) => {
      const task = withHeld ? item.task || item : item;
      const cells = [
        el("td", {}, taskLink(task)),
        el("td", {}, text(task.clusterName)),
        el("td", {}, text(task.serviceName)),
        el("td", {}, task.family ? `${task.family}${task.revision ? `:${task.revision}` : ""}` : "–"),
        el("td", {}, statusBadge(task.lastStatus)),
        el("td", {}, text(task.launchType)),
        el("td", {}, text(task.availabilityZone)),
        el("td", { class: "mono" }, text(taskIps(task))),
        el("td", { class: "mono" }, when(task.startedAt || task.firstSeenAt)),
        el("td", { class: "mono" }, when(task.lastSeenAt)),
        el("td", {}, task.stale ? el("span", { class: "badge stale", title: "no report or event for over twice the keepalive" }, "STALE") : ""),
        el("td", { "data-field": "drift" }, driftBadge(task)),
      ];
      if (withHeld) {
        cells.push(el("td", { class: "mono" }, when(item.heldFrom)), el("td", { class: "mono" }, item.heldUntil ? when(item.heldUntil) : "now"),
          el("td", { "data-field": "statedBy" }, statedBy(item.confirmed)));
      }
      const drifted = task.drift && task.drift.drifted === true;
      return el("tr", { class: [task.stale ? "stale" : "", drifted ? "drifted" : ""].join(" ").trim() || null, "data-task-id": task.taskId }, cells);
    });
  }

  function tasksTable(items, withHeld) {
    const headers = ["Task", "Cluster", "Service", "Family:rev", "Status", "Launch", "AZ", "IPs", "Started", "Last seen", "Stale", "Drift"];
    if (withHeld) headers.push("Held from", "Held until", "Address stated by");
    return table(headers, taskRows(items, withHeld), { id: "results" });
  }

  /** Who stated an IP hit's address: AWS (an event or the ECS API), or only the task itself. */
  function statedBy(confirmed) {
    if (confirmed === true) return el("span", { class: "badge aws", title: "an EventBridge event or the ECS API stated this address for the task" }, "AWS");
    if (confirmed === false) return el("span", { class: "badge unconfirmed", title: UNCONFIRMED_TEXT }, "task only");
    return "–";
  }

  function pager(path, params, body) {
    const parts = [el("span", { class: "muted", id: "page-count" }, `${body.items.length} on this page`)];
    if (params.cursor) parts.push(link("First page", path, { ...params, cursor: null }, { id: "first-page", class: "button secondary" }));
    if (body.nextCursor) parts.push(link("Next page", path, { ...params, cursor: body.nextCursor }, { id: "next-page", class: "button" }));
    return el("nav", { class: "pager", "aria-label": "Pages of results" }, parts);
  }

  function filterForm(params) {
    const fields = LIST_FILTERS.map(([name, label]) => {
      let control;
      if (name === "status" || name === "launchType") {
        const options = name === "status" ? STATUSES : LAUNCH_TYPES;
        control = el("select", { name, id: `f-${name}` },
          options.map((o) => el("option", { value: o, selected: (params[name] || "") === o }, o || "any")));
      } else {
        control = el("input", {
          name, id: `f-${name}`, type: "text", value: params[name] || "", spellcheck: "false",
          placeholder: TIME_FILTERS.includes(name) ? TIME_HINT : "",
        });
      }
      return el("label", { for: `f-${name}` }, label, control);
    });
    const limit = el("select", { name: "limit", id: "f-limit" },
      LIMITS.map((l) => el("option", { value: l, selected: (params.limit || DEFAULT_LIMIT) === l }, l)));
    const drifted = el("label", { for: `f-${DRIFTED}`, class: "check", title: DRIFT_TITLE },
      el("input", { type: "checkbox", name: DRIFTED, id: `f-${DRIFTED}`, value: "true", checked: params[DRIFTED] === "true" }),
      " Drifted only");
    const form = el("form", { class: "filters", id: "filters", "aria-label": "Filters" },
      fields, drifted, el("label", { for: "f-limit" }, "Per page", limit),
      el("button", { type: "submit", id: "apply" }, "Apply"),
      link("Clear", "/tasks", {}, { class: "button secondary", id: "clear" }));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const next = {};
      for (const [key, value] of new FormData(form).entries()) next[key] = String(value).trim();
      if (next.limit === DEFAULT_LIMIT) delete next.limit;
      location.hash = hash("/tasks", next);
    });
    return form;
  }

  async function tasks(params) {
    setPage("Tasks", "nav-tasks");
    const query = { ...params };
    for (const name of TIME_FILTERS) if (query[name]) query[name] = resolveTime(query[name]);
    query.limit = params.limit || DEFAULT_LIMIT;
    const form = filterForm(params);
    view().replaceChildren(form, loading());
    const body = await api("/tasks", query);
    const results = body.items.length ? tasksTable(body.items, false) : el("p", { id: "results-empty" }, "No tasks match.");
    view().replaceChildren(form, results, pager("/tasks", params, body));
  }

  function searchHelp() {
    return el("div", {},
      el("p", {}, "Type into the search box above. It recognises:"),
      el("ul", {},
        el("li", {}, "an IPv4 or IPv6 address (add ", el("em", {}, "at"), " for the task that held it then)"),
        el("li", {}, "an image digest, ", el("code", {}, "sha256:"), " and 64 hex digits"),
        el("li", {}, "a Docker id, 64 hex digits"),
        el("li", {}, "an ENI, ", el("code", {}, "eni-…")),
        el("li", {}, el("code", {}, "key=value"), ": a task tag, or a Docker label when you pick it"),
        el("li", {}, "an image (anything with ", el("code", {}, "/ : . @"), "), else a container name"),
      ),
      el("p", {}, "Pick the kind from the list next to the box to override the guess."));
  }

  async function search(params) {
    setPage("Search", null);
    const kinds = SEARCH_KINDS.filter((k) => params[k] !== undefined && params[k] !== "");
    fillSearchBox(params, kinds[0]);
    if (kinds.length !== 1) {
      view().replaceChildren(searchHelp());
      return;
    }
    const kind = kinds[0];
    const value = params[kind];
    setPage(`Search: ${KIND_NAMES[kind]} ${value}`, null);
    const query = { [kind]: value, cursor: params.cursor, status: params.status, limit: params.limit || DEFAULT_LIMIT };
    if (kind === "ip" && params.at) query.at = resolveTime(params.at);
    const wantsConfirmed = params.confirmed === "true";
    const confirmable = CONFIRMABLE.includes(kind);
    if (wantsConfirmed && confirmable) query.confirmed = "true";
    const body = await api("/search", query);
    const parts = [];
    if (confirmable) {
      const toggle = { ...params, cursor: null, confirmed: wantsConfirmed ? null : "true" };
      parts.push(el("p", { id: "confirmed-note", "data-confirmed": String(wantsConfirmed) },
        wantsConfirmed
          ? [el("strong", {}, "AWS-confirmed only"), ": what an event or the ECS API stated, not tasks' own claims. "]
          : "Everything known, tasks' own claims included. ",
        link(wantsConfirmed ? "Include tasks' own claims" : "Show AWS-confirmed only", "/search", toggle, { id: "toggle-confirmed" })));
    } else if (wantsConfirmed) {
      parts.push(el("p", { id: "confirmed-note", class: "muted", "data-confirmed": "ignored" },
        `"Confirmed only" applies to ${CONFIRMABLE.map((k) => KIND_NAMES[k]).join(", ")} searches (what AWS states); it is ignored for a ${KIND_NAMES[kind]}.`));
    }
    if (kind === "label" || kind === "tag") {
      const other = kind === "label" ? "tag" : "label";
      parts.push(el("p", {}, `Searching ${KIND_NAMES[kind]}s. `, link(`Search ${KIND_NAMES[other]}s instead`, "/search", { [other]: value }, { id: "switch-kv" })));
    }
    parts.push(body.items.length ? tasksTable(body.items, kind === "ip") : el("p", { id: "results-empty" }, "Nothing found."));
    parts.push(pager("/search", params, body));
    view().replaceChildren(...parts);
  }

  function facts(pairs) {
    return el("dl", { class: "facts" }, pairs.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v === undefined ? "–" : v)]));
  }

  function changeList(changes) {
    return el("ul", {}, Object.entries(changes || {}).map(([field, change]) => {
      if (change && typeof change === "object" && !Array.isArray(change) && ("from" in change || "to" in change)) {
        return el("li", {}, el("strong", {}, field), ": ", el("span", { class: "change-from" }, text(change.from)), " → ", el("span", { class: "change-to" }, text(change.to)));
      }
      return el("li", {}, el("strong", {}, field), ": ", text(change));
    }));
  }

  function timelineItems(items) {
    const sorted = [...items].sort((a, b) => String(b.at || "").localeCompare(String(a.at || "")));
    return sorted.map((item) => el("li", { "data-at": item.at || "" },
      el("time", { datetime: item.at || "" }, when(item.at)), " ",
      el("span", { class: "muted" }, `${text(item.source)}${item.reporter ? ` · ${item.reporter}` : ""}`),
      changeList(item.changes)));
  }

  // ---- provenance (DESIGN 3.9): who stated each group of fields, and what only the task claimed ------
  function sourceChip(source) {
    const aws = source !== "agent";
    return el("span", { class: `badge src ${aws ? "src-aws" : "src-self"}`, "data-source": source, title: SOURCE_TITLES[source] || source },
      SOURCE_NAMES[source] || source);
  }

  /** "Images and digests stated by agent events" for one group of fields (status, network, images, labels, tags). */
  function statedLine(sources, group, what) {
    const said = (sources && Array.isArray(sources[group]) ? sources[group] : []).filter(Boolean);
    return el("p", { class: "stated", "data-group": group, "data-sources": said.join(" ") },
      what ? `${what} stated by ` : "",
      said.length ? said.map((source, i) => [i ? " " : "", sourceChip(source)]) : el("span", { class: "muted" }, "no source"),
      said.length && !said.some((source) => source !== "agent") ? el("span", { class: "muted" }, " (the task alone; AWS has not stated it)") : null);
  }

  function factSet(sources, side, kind) {
    const facts = (sources && sources[side]) || {};
    return new Set(Array.isArray(facts[kind]) ? facts[kind] : []);
  }

  function unconfirmedBadge(short) {
    return el("span", { class: "badge unconfirmed", title: UNCONFIRMED_TEXT }, short ? "unconfirmed" : UNCONFIRMED_TEXT);
  }

  /** A value as a search link, marked when it is one of the task's unconfirmed claims. */
  function claimed(kind, value, label, unconfirmed) {
    if (value === null || value === undefined || value === "") return "–";
    return [searchLink(kind, value, label), unconfirmed.has(value) ? [" ", unconfirmedBadge(true)] : null];
  }

  function provenanceSection(sources) {
    const rows = [];
    for (const [kind, name, search] of FACT_KINDS) {
      const aws = [...factSet(sources, "confirmed", kind)];
      for (const value of factSet(sources, "unconfirmed", kind)) {
        rows.push(el("tr", { "data-kind": kind, "data-value": value },
          el("td", {}, name),
          el("td", {}, searchLink(search, value, kind === "imageDigests" ? shortDigest(value) : null)),
          el("td", {}, unconfirmedBadge(false)),
          el("td", {}, aws.length ? aws.map((v, i) => [i ? ", " : "", searchLink(search, v, kind === "imageDigests" ? shortDigest(v) : null)]) : el("span", { class: "muted" }, "nothing yet"))));
      }
    }
    const confirmed = FACT_KINDS.map(([kind, , search, plural]) => {
      const values = [...factSet(sources, "confirmed", kind)];
      return [plural, values.length ? values.map((v, i) => [i ? ", " : "", searchLink(search, v, kind === "imageDigests" ? shortDigest(v) : null)]) : "–"];
    });
    const selfReported = FACT_KINDS.some(([kind]) => factSet(sources, "selfReported", kind).size);
    return [
      el("h2", { id: "provenance" }, "Confirmed and unconfirmed facts"),
      el("p", { class: "muted" },
        "Events and the ECS API are AWS's word and win for what AWS owns (status, times, awsvpc IPs and ENIs, digests): the tables above show AWS's values. ",
        "What the task said about itself that AWS never stated, contradicted claims included, is kept here and marked."),
      rows.length
        ? table(["Kind", "Value", "", "AWS states"], rows, { id: "unconfirmed-table" })
        : el("p", { id: "unconfirmed-none" }, selfReported
          ? "None: AWS stated every IP, ENI, image and digest the task reported."
          : "None: the task reported nothing about itself (no agent), or nothing AWS owns."),
      el("h3", {}, "Confirmed by AWS"),
      el("div", { id: "confirmed-facts" }, facts(confirmed)),
    ];
  }

  /** A Docker label's value as a link that finds the task. ECS's own labels (com.amazonaws.ecs.*) are
   * not in the label index, so each points to the filter that answers it, when the label agrees with
   * the task's own value (a task's claim may not); otherwise, and when no filter answers, plain text. */
  function labelValue(key, value, task, container) {
    const shown = String(value);
    if (!key.startsWith(ECS_LABEL_PREFIX)) return searchLink("label", `${key}=${value}`, shown);
    const name = key.slice(ECS_LABEL_PREFIX.length);
    const attrs = { class: "mono", "data-answers": name };
    const plain = (why) => el("span", { class: "mono", title: why }, shown);
    const differs = (what, own) => plain(`ECS sets this label; it differs from the task's ${what} (${text(own)}), so no filter answers it`);
    switch (name) {
      case "cluster":
        return task.clusterName && clusterName(value) === task.clusterName
          ? link(shown, "/tasks", { cluster: task.clusterName }, attrs) : differs("cluster", task.clusterName);
      case "task-definition-family":
        return task.family && shown === task.family ? link(shown, "/tasks", { family: task.family }, attrs) : differs("family", task.family);
      case "container-name":
        if (container && container.internal) return plain("ECS's internal containers are not searched for");
        return container && shown === container.name
          ? link(shown, "/search", { containerName: shown }, attrs) : differs("container name", container && container.name);
      case "task-arn":
        return shown === task.taskArn || shown === task.taskId
          ? link(shown, `/task/${encodeURIComponent(task.taskId || shown)}`, null, attrs) : differs("ARN", task.taskArn);
      default:
        return plain("ECS sets this label; no filter answers it");
    }
  }

  // ---- drift: does the task run what its service's current deployment asked for? --------------------
  function driftVerdict(drift) {
    if (!drift) {
      return el("span", { class: "muted", id: "drift-verdict", "data-drifted": "" }, "not judged (a standalone task, or the sweep has not judged its service yet)");
    }
    const since = `since ${when(drift.since)} (source ${text(drift.source)})`;
    return el("span", { id: "drift-verdict", "data-drifted": String(drift.drifted === true) },
      drift.drifted === true
        ? [el("span", { class: "badge drifted", title: DRIFT_TITLE }, "DRIFTED"), ` ${since} · `, toDrift()]
        : ["not drifted: runs what its service's current deployment asked for, ", since]);
  }

  function toDrift() {
    const go = el("button", { type: "button", class: "secondary small", id: "to-drift" }, "Show what differs");
    go.addEventListener("click", () => {
      const heading = document.getElementById("drift");
      heading.scrollIntoView({ block: "start" });
      heading.focus();
    });
    return go;
  }

  function driftSection(task) {
    const drift = task.drift;
    const heading = el("h2", { id: "drift", tabindex: "-1" }, "Drift");
    if (!drift) {
      return [heading, el("p", { class: "muted", id: "drift-none" },
        "Not judged: only service tasks are compared with their service's current deployment, once the sweep has read it (a standalone task has no service revision).")];
    }
    const running = task.family ? `${task.family}${task.revision ? `:${task.revision}` : ""}` : "–";
    const rows = (drift.containers || []).map((c) => el("tr", { "data-container": c.name, "data-drifted": String(c.drifted === true), class: c.drifted ? "drifted" : null },
      el("td", {}, text(c.name)),
      el("td", { "data-digest": c.expectedDigest || "", title: c.expectedDigest || "" }, c.expectedDigest ? searchLink("imageDigest", c.expectedDigest, shortDigest(c.expectedDigest)) : "not known"),
      el("td", { "data-digest": c.actualDigest || "", title: c.actualDigest || "" }, c.actualDigest ? searchLink("imageDigest", c.actualDigest, shortDigest(c.actualDigest)) : "not known"),
      el("td", {}, c.drifted ? el("span", { class: "badge drifted" }, "DRIFTED")
        : c.expectedDigest && c.actualDigest ? "same" : el("span", { class: "muted" }, "not judged"))));
    return [
      heading,
      el("p", { class: "muted" }, "What the service's current deployment asked for (ECS's service revision, with the image digest ECS resolved per container), against what the task runs."),
      el("div", { id: "drift-facts", class: drift.drifted ? "drift-facts drifted" : "drift-facts" }, facts([
        ["Verdict", drift.drifted ? el("span", { class: "badge drifted" }, "DRIFTED") : "not drifted"],
        ["Expected task definition", [el("span", { class: "mono", id: "drift-expected-td" }, text(drift.expectedTaskDefinition)),
          ` (the task runs ${running})`, drift.taskDefinitionDrifted ? [" ", el("span", { class: "badge drifted", id: "drift-td" }, "task definition differs")] : ""]],
        ["Since", el("span", { class: "mono", id: "drift-since" }, when(drift.since))],
        ["Source", el("span", { id: "drift-source" }, text(drift.source))],
        ["Service revision", el("span", { class: "mono" }, text(drift.serviceRevisionArn))],
        ["Service deployment", el("span", { class: "mono" }, text(drift.serviceDeploymentArn))],
      ])),
      rows.length ? table(["Container", "Expected digest", "Actual digest", "Drifted"], rows, { id: "drift-table" }) : el("p", {}, "No container named by the revision."),
    ];
  }

  async function taskDetail(id) {
    setPage(`Task ${id}`, null);
    const path = `/tasks/${encodeURIComponent(id)}`;
    const [task, history] = await Promise.all([api(path), api(`${path}/history`, { limit: DEFAULT_LIMIT })]);
    setPage(`Task ${task.taskId || id}`, null);
    const containers = task.containers || [];
    const sources = task.sources || {};
    const unconfirmed = Object.fromEntries(FACT_KINDS.map(([kind]) => [kind, factSet(sources, "unconfirmed", kind)]));
    const summary = facts([
      ["Task ARN", el("span", { class: "mono" }, text(task.taskArn))],
      ["Status", [statusBadge(task.lastStatus), ` desired ${text(task.desiredStatus)}`, task.stale ? [" ", el("span", { class: "badge stale" }, "STALE")] : ""]],
      ["Cluster", task.clusterName ? link(task.clusterName, "/tasks", { cluster: task.clusterName }) : "–"],
      ["Service", task.serviceName ? link(task.serviceName, "/tasks", { service: task.serviceName }) : "–"],
      ["Family:rev", task.family ? link(`${task.family}:${task.revision || "?"}`, "/tasks", { family: task.family }) : "–"],
      ["Launch type", text(task.launchType)],
      ["Platform version", text(task.platformVersion)],
      ["Availability zone", text(task.availabilityZone)],
      ["Account / region", `${text(task.accountId)} / ${text(task.region)}`],
      ["VPC", text(task.vpcId)],
      ["CPU / memory", `${text(task.cpu)} / ${text(task.memory)}`],
      ["Health", text(task.healthStatus)],
      ["Started", when(task.startedAt)],
      ["Stopped", task.stoppedAt ? `${when(task.stoppedAt)} (${text(task.stopCode)}: ${text(task.stoppedReason)})` : "–"],
      ["Container instance", el("span", { class: "mono" }, text(task.containerInstanceArn))],
      ["First / last seen", `${when(task.firstSeenAt)} / ${when(task.lastSeenAt)}`],
      ["Last source", text(task.lastSource)],
      ["Reporters", text(task.reporters)],
      ["Status and times stated by", statedLine(sources, "status")],
      ["Drift", driftVerdict(task.drift)],
    ]);
    const containerRows = containers.map((c) => el("tr", { "data-container": c.name },
      el("td", {}, c.name && !c.internal ? searchLink("containerName", c.name) : text(c.name), c.internal ? " (internal)" : ""),
      el("td", {}, claimed("image", c.image, null, unconfirmed.images)),
      el("td", {}, claimed("imageDigest", c.imageDigest, shortDigest(c.imageDigest), unconfirmed.imageDigests)),
      el("td", {}, statusBadge(c.lastStatus)),
      el("td", {}, text(c.healthStatus)),
      el("td", {}, text(c.exitCode)),
      el("td", {}, c.dockerId ? searchLink("dockerId", c.dockerId, String(c.dockerId).slice(0, 12)) : "–")));
    const networkRows = containers.flatMap((c) => (c.networks || []).map((n) => el("tr", {},
      el("td", {}, text(c.name)),
      el("td", {}, text(n.networkMode)),
      el("td", {}, (n.ipv4Addresses || []).length ? (n.ipv4Addresses || []).map((ip, i) => [i ? ", " : "", claimed("ip", ip, null, unconfirmed.ips)]) : "–"),
      el("td", { class: "mono" }, (n.ipv6Addresses || []).length ? (n.ipv6Addresses || []).map((ip, i) => [i ? ", " : "", ip, unconfirmed.ips.has(ip) ? [" ", unconfirmedBadge(true)] : null]) : "–"),
      el("td", { class: "mono" }, text(n.macAddress)),
      el("td", { class: "mono" }, text(n.privateDnsName)),
      el("td", {}, claimed("eni", n.eni, null, unconfirmed.enis)))));
    const labelRows = containers.flatMap((c) => Object.entries(c.labels || {}).map(([k, v]) => el("tr", { "data-label": k },
      el("td", {}, text(c.name)), el("td", { class: "mono" }, k), el("td", {}, labelValue(k, v, task, c)))));
    const tagRows = Object.entries(task.tags || {}).map(([k, v]) => el("tr", {},
      el("td", { class: "mono" }, k), el("td", {}, searchLink("tag", `${k}=${v}`, String(v)))));
    const timeline = el("ol", { class: "timeline", id: "timeline" }, timelineItems(history.items));
    const more = el("div", { class: "pager" });
    let cursor = history.nextCursor;
    let loaded = [...history.items];
    const showMore = () => {
      more.replaceChildren();
      if (!cursor) return;
      const button = el("button", { type: "button", id: "older", class: "secondary" }, "Load older changes");
      button.addEventListener("click", async () => {
        button.disabled = true;
        try {
          const next = await api(`${path}/history`, { limit: DEFAULT_LIMIT, cursor });
          loaded = loaded.concat(next.items);
          cursor = next.nextCursor;
          timeline.replaceChildren(...timelineItems(loaded));
          showMore();
        } catch (error) {
          showError(error);
          button.disabled = false;
        }
      });
      more.append(button);
    };
    showMore();
    view().replaceChildren(
      summary,
      el("h2", { id: "containers" }, `Containers (${containers.length})`),
      statedLine(sources, "images", "Images and digests"),
      containers.length ? table(["Name", "Image", "Digest", "Status", "Health", "Exit code", "Docker id"], containerRows, { id: "containers-table" }) : el("p", {}, "None reported."),
      ...driftSection(task),
      el("h2", { id: "networks" }, "Networks"),
      statedLine(sources, "network", "Addresses and ENIs"),
      networkRows.length ? table(["Container", "Mode", "IPv4", "IPv6", "MAC", "Private DNS", "ENI"], networkRows, { id: "networks-table" }) : el("p", {}, "None reported."),
      el("h2", { id: "labels" }, "Docker labels"),
      statedLine(sources, "labels", "Labels"),
      labelRows.length ? table(["Container", "Key", "Value"], labelRows, { id: "labels-table" }) : el("p", {}, "None."),
      el("h2", { id: "tags" }, "Tags"),
      statedLine(sources, "tags", "Tags"),
      tagRows.length ? table(["Key", "Value"], tagRows, { id: "tags-table" }) : el("p", {}, "None."),
      ...provenanceSection(sources),
      el("h2", { id: "history" }, "History"),
      history.items.length ? timeline : el("p", {}, "No changes recorded."),
      more,
    );
  }

  // ---- the search box --------------------------------------------------------------------------------
  function fillSearchBox(params, kind) {
    const q = document.getElementById("q");
    const select = document.getElementById("kind");
    if (kind && params[kind] !== undefined) {
      q.value = params[kind];
      const guess = classify(params[kind], kind);
      select.value = guess && guess.kind === kind ? "auto" : kind;
    }
    document.getElementById("at").value = kind === "ip" ? params.at || "" : "";
    document.getElementById("confirmed").checked = params.confirmed === "true";
    hint();
  }

  function hint() {
    const chosen = document.getElementById("kind").value;
    const guess = classify(document.getElementById("q").value);
    const out = document.getElementById("kind-hint");
    const kind = chosen !== "auto" ? chosen : guess && guess.kind;
    const confirmed = document.getElementById("confirmed").checked;
    out.textContent = kind ? `as ${KIND_NAMES[kind]}${confirmed && !CONFIRMABLE.includes(kind) ? " (confirmed only does not apply)" : ""}` : "";
  }

  function onSearch(event) {
    event.preventDefault();
    const raw = document.getElementById("q").value.trim();
    const chosen = document.getElementById("kind").value;
    if (!raw) {
      location.hash = "#/search";
      return;
    }
    const kind = chosen === "auto" ? classify(raw).kind : chosen;
    const value = chosen === "auto" ? classify(raw).value : raw;
    const at = document.getElementById("at").value.trim();
    const confirmed = document.getElementById("confirmed").checked && CONFIRMABLE.includes(kind);
    location.hash = hash("/search", { [kind]: value, at: kind === "ip" ? at : null, confirmed: confirmed ? "true" : null });
  }

  // ---- routing -----------------------------------------------------------------------------------
  function parseHash() {
    const raw = location.hash.replace(/^#/, "") || "/";
    const at = raw.indexOf("?");
    const path = at >= 0 ? raw.slice(0, at) : raw;
    const params = Object.fromEntries(new URLSearchParams(at >= 0 ? raw.slice(at + 1) : ""));
    return { path: path || "/", params };
  }

  let first = true;
  let generation = 0;

  async function route() {
    const mine = ++generation;
    // A new question: cancel the previous one's requests, and never show an answer to it.
    navigation.controller.abort();
    navigation = { id: mine, controller: new AbortController() };
    const { path, params } = parseHash();
    document.getElementById("notice").replaceChildren();
    document.body.setAttribute("data-loading", "true");
    view().replaceChildren(loading()); // nothing of the previous page stays under the new heading
    try {
      if (path === "/" || path === "/overview") await overview();
      else if (path === "/tasks") await tasks(params);
      else if (path === "/search") await search(params);
      else if (path.startsWith("/task/")) await taskDetail(decodeURIComponent(path.slice("/task/".length)));
      else {
        setPage("Not found", null);
        view().replaceChildren(el("p", {}, "No such page. "), link("Go to the overview", "/"));
      }
    } catch (error) {
      if (mine === generation && !(error && error.superseded)) {
        // The filters stay (to fix the one named); the rest becomes the error page.
        const form = document.getElementById("filters");
        view().replaceChildren(...(form && view().contains(form) ? [form] : []), errorPage(error));
        const input = error && error.field ? document.getElementById(`f-${error.field}`) : null;
        if (input) input.setAttribute("aria-invalid", "true");
      }
    } finally {
      if (mine === generation) {
        document.body.setAttribute("data-loading", "false");
        document.body.setAttribute("data-route", path);
        document.body.setAttribute("data-done", String(mine)); // which navigation has finished (tests wait on it)
        if (!first) document.getElementById("title").focus();
        first = false;
      }
    }
  }

  function start() {
    // Arrived through the server's one same-site step (a link from another site): drop its marker.
    if (new URLSearchParams(location.search).has("via")) history.replaceState(null, "", `/${location.hash}`);
    document.getElementById("search-form").addEventListener("submit", onSearch);
    document.getElementById("q").addEventListener("input", hint);
    document.getElementById("kind").addEventListener("change", hint);
    document.getElementById("confirmed").addEventListener("change", hint);
    document.getElementById("skip").addEventListener("click", () => document.getElementById("title").focus());
    window.addEventListener("hashchange", route);
    route();
  }

  window.TaskBeacon = { classify, resolveTime, when, route };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
