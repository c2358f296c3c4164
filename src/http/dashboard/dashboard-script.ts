/**
 * The dashboard's behaviour, as browser JavaScript inlined by the page (dashboard-page.ts):
 * every second it reads GET /v1/cluster and GET /metrics from the node that served the page
 * (relative URLs, so nothing leaves that node) and redraws the nodes, the partitions, the
 * locks held and the request charts; the lookup box asks POST /v1/locks/get-info.
 *
 * What it shows is what the serving node knows: a node is up while that node's peer
 * connection to it is open (`reachable`), and the serving node itself is down while it does
 * not answer; replication lag and locks held are known only for the partitions it leads
 * (only a leader knows them). Text goes into the page through textContent only, never as
 * HTML, so no name or owner can inject markup.
 *
 * A node started with --auth-file answers 401 without a token (403 without admin, for
 * /v1/cluster and /metrics): the page then shows a token box, and sends the token it is given
 * as a bearer token with every request. The token is kept in this tab's sessionStorage only
 * (gone when the tab closes), never in the page's URL.
 *
 * Elements the test (test/e2e/ui.test.ts) reads carry data-* attributes: data-node and
 * data-state on node rows, data-partition and data-field on partition cells.
 *
 * JavaScript under String.raw, like request-stats-script.ts (whose functions it calls): no
 * backtick, no dollar sign followed by a brace, and ASCII only (a character beyond is written
 * as a \u escape in a string): Bun's transpiler escapes one in a raw template and Deno keeps it,
 * so the page would differ by runtime.
 */
export const dashboardScript = String.raw`
"use strict";

const pollMs = 1000;
const fetchTimeoutMs = 2500;
const chartWindowMs = 60000;
const gapMs = 3 * pollMs;

const view = {
  nodeId: "",
  cluster: undefined,
  totals: undefined,
  totalsAtMs: 0,
  points: [],
  failingSinceMs: undefined,
};

function byId(id) {
  return document.getElementById(id);
}

/** An element with attributes and children (strings become text nodes). */
function el(tag, attributes, children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) element.setAttribute(name, value);
  for (const child of children || []) {
    element.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return element;
}

const tokenKey = "kahuna-token";

/** The bearer token this tab was given, as request headers (none when it has none). */
function authHeaders() {
  const token = sessionStorage.getItem(tokenKey);
  return token === null || token === "" ? {} : { Authorization: "Bearer " + token };
}

/** A 401 or 403: the node needs a token, or one with more permission; the box says which. */
class NeedsToken extends Error {
  constructor(status, path) {
    super(status === 401
      ? "this node requires a token (it was started with --auth-file)"
      : "this token may not read " + path + ": the dashboard needs a client with admin");
    this.status = status;
  }
}

async function getText(path) {
  const response = await fetch(path, {
    headers: authHeaders(),
    signal: AbortSignal.timeout(fetchTimeoutMs),
  });
  if (response.status === 401 || response.status === 403) {
    throw new NeedsToken(response.status, path);
  }
  if (!response.ok) throw new Error(path + " answered HTTP " + response.status);
  return await response.text();
}

function showTokenBox(error) {
  const box = byId("token-box");
  box.hidden = false;
  box.dataset.status = String(error.status);
  byId("token-reason").textContent = error.message;
}

function useToken(event) {
  event.preventDefault();
  const input = byId("token-input");
  sessionStorage.setItem(tokenKey, input.value.trim());
  input.value = "";
  byId("token-box").hidden = true;
}

async function poll() {
  const startedMs = performance.now();
  try {
    const [clusterText, metricsText] = await Promise.all([getText("v1/cluster"), getText("metrics")]);
    received(JSON.parse(clusterText), parseMetrics(metricsText), performance.now());
    byId("token-box").hidden = true;
  } catch (error) {
    if (error instanceof NeedsToken) showTokenBox(error);
    failed(error, performance.now());
  }
  setTimeout(poll, Math.max(0, pollMs - (performance.now() - startedMs)));
}

function received(cluster, byName, nowMs) {
  view.cluster = cluster;
  view.nodeId = cluster.nodeId;
  view.failingSinceMs = undefined;
  const totals = requestTotals(byName);
  if (view.totals !== undefined) {
    addPoint(nowMs, requestPoint(view.totals, totals, (nowMs - view.totalsAtMs) / 1000));
  }
  view.totals = totals;
  view.totalsAtMs = nowMs;
  const version = buildVersion(byName);
  byId("version").textContent = version === "" ? "" : "kahuna " + version;
  render();
}

function failed(error, nowMs) {
  if (view.failingSinceMs === undefined) view.failingSinceMs = nowMs;
  // The next answer starts a new rate from its own totals, not from before the gap.
  view.totals = undefined;
  addPoint(nowMs, null);
  byId("status").dataset.reason = String(error && error.message ? error.message : error);
  render();
}

/** A poll's request statistics (null: none, the node did not answer), kept chartWindowMs. */
function addPoint(atMs, stats) {
  view.points.push({ atMs, stats });
  while (view.points[0].atMs < atMs - chartWindowMs) view.points.shift();
}

function render() {
  renderStatus();
  if (view.cluster === undefined) return;
  const answering = view.failingSinceMs === undefined;
  renderNodes(view.cluster, answering);
  renderPartitions(view.cluster, answering);
  renderSummary(view.cluster, answering);
  renderCharts();
}

function renderStatus() {
  const status = byId("status");
  byId("serving-node").textContent = view.nodeId === "" ? "\u2026" : view.nodeId;
  byId("serving-address").textContent = location.host;
  if (view.failingSinceMs !== undefined) {
    status.dataset.state = "down";
    status.textContent = "not answering: " + status.dataset.reason;
  } else if (view.cluster !== undefined) {
    status.dataset.state = "live";
    status.textContent = "live, updated " + new Date().toLocaleTimeString();
  }
}

/** Up, down or unknown: the serving node is up while it answers; others as it sees them. */
function nodeState(node, cluster, answering) {
  if (node.id === cluster.nodeId) return answering ? "up" : "down";
  if (!answering) return "unknown";
  return node.reachable ? "up" : "down";
}

function renderNodes(cluster, answering) {
  const rows = cluster.nodes.map((node) => {
    const state = nodeState(node, cluster, answering);
    const leads = cluster.partitions.filter((p) => p.leader === node.id).length;
    const name = node.id === cluster.nodeId ? node.id + " (this page)" : node.id;
    return el("tr", { "data-node": node.id, "data-state": state }, [
      el("td", { "data-field": "id" }, [name]),
      el("td", {}, [node.peerAddress]),
      el("td", { "data-field": "state" }, [el("span", { class: "badge " + state }, [state])]),
      el("td", { "data-field": "leads", class: "number" }, [String(leads)]),
    ]);
  });
  byId("nodes-body").replaceChildren(...rows);
}

function renderPartitions(cluster, answering) {
  const reachable = new Set(
    cluster.nodes.filter((n) => nodeState(n, cluster, answering) === "up").map((n) => n.id),
  );
  const rows = cluster.partitions.map((p) => {
    const leader = p.leader === "" ? "none" : p.leader;
    const here = p.role === "leader";
    return el("tr", { "data-partition": String(p.group), class: here ? "led-here" : "" }, [
      el("td", { class: "number" }, [String(p.group)]),
      el("td", { "data-field": "leader", class: p.leader === "" ? "warn" : "" }, [leader]),
      el("td", { "data-field": "term", class: "number" }, [String(p.term)]),
      el("td", { class: "number" }, [String(p.commit)]),
      el("td", { class: "number" }, [String(p.applied)]),
      el("td", { "data-field": "replicas" }, replicaCells(p, reachable)),
      el("td", { "data-field": "locks", class: "number" }, [here ? String(p.locks) : "\u2013"]),
    ]);
  });
  byId("partitions-body").replaceChildren(...rows);
}

/** On the leader, each voter with its lag; elsewhere, where to look instead. */
function replicaCells(partition, reachable) {
  if (partition.replicas === undefined) {
    const where = partition.leader === "" ? "no leader" : "on node " + partition.leader + "'s page";
    return [el("span", { class: "muted" }, [where])];
  }
  return partition.replicas.map((replica) => {
    const kind = !reachable.has(replica.id) ? "down" : replica.lag === 0 ? "up" : "behind";
    const title = "node " + replica.id + ": match " + replica.match + ", lag " + replica.lag;
    const attributes = {
      class: "badge " + kind,
      title,
      "data-replica": replica.id,
      "data-lag": String(replica.lag),
    };
    return el("span", attributes, [replica.id + ": " + replica.lag]);
  });
}

function renderSummary(cluster, answering) {
  const up = cluster.nodes.filter((n) => nodeState(n, cluster, answering) === "up").length;
  const led = cluster.partitions.filter((p) => p.role === "leader");
  const withLeader = cluster.partitions.filter((p) => p.leader !== "").length;
  const held = led.reduce((sum, p) => sum + (p.locks || 0), 0);
  byId("nodes-up").textContent = up + " of " + cluster.nodes.length;
  byId("partitions-with-leader").textContent = withLeader + " of " + cluster.partitions.length;
  byId("locks-held").textContent = String(held);
  const partitionsLed = led.length === 1 ? "the partition" : "the " + led.length + " partitions";
  byId("locks-held-note").textContent = "in " + partitionsLed + " node " + cluster.nodeId +
    " leads";
  const last = view.points[view.points.length - 1];
  byId("request-rate").textContent = last && last.stats ? formatNumber(last.stats.rate) : "\u2013";
}

function formatNumber(value) {
  if (value === 0) return "0";
  if (value >= 100) return String(Math.round(value));
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

function renderCharts() {
  const nowMs = performance.now();
  const series = (value) =>
    view.points.map((p) => ({ atMs: p.atMs, value: p.stats === null ? null : value(p.stats) }));
  const ms = (seconds) => (seconds === null ? null : seconds * 1000);
  drawChart(byId("rate-chart"), nowMs, [
    { values: series((stats) => stats.rate), className: "line-rate" },
  ], "/s");
  drawChart(byId("latency-chart"), nowMs, [
    { values: series((stats) => ms(stats.p50)), className: "line-p50" },
    { values: series((stats) => ms(stats.p99)), className: "line-p99" },
  ], " ms");
}

const svgNs = "http://www.w3.org/2000/svg";

function svgEl(tag, attributes, text) {
  const element = document.createElementNS(svgNs, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

/** Lines over the last chartWindowMs, placed by when each poll ended, newest on the right. */
function drawChart(svg, nowMs, series, unit) {
  const width = 600;
  const height = 150;
  const left = 56;
  const above = 10;
  const bottom = 20;
  const all = series.flatMap((s) => s.values.map((p) => p.value)).filter((v) => v !== null);
  const top = niceCeiling(Math.max(0, ...all));
  const x = (atMs) => left + (width - left) * (1 - (nowMs - atMs) / chartWindowMs);
  const y = (v) => above + (height - above - bottom) * (1 - v / top);
  const children = [];
  for (const fraction of [0, 0.5, 1]) {
    const value = top * fraction;
    children.push(svgEl("line", { x1: left, x2: width, y1: y(value), y2: y(value), class: "grid" }));
    const label = String(Number(value.toPrecision(3))) + unit;
    children.push(svgEl("text", { x: left - 6, y: y(value) + 4, class: "axis end" }, label));
  }
  const windowLabel = Math.round(chartWindowMs / 1000) + " s ago";
  children.push(svgEl("text", { x: left, y: height - 4, class: "axis" }, windowLabel));
  children.push(svgEl("text", { x: width, y: height - 4, class: "axis end" }, "now"));
  for (const s of series) {
    for (const run of runs(s.values)) {
      const points = run.map((p) => x(p.atMs).toFixed(1) + "," + y(p.value).toFixed(1));
      children.push(svgEl("polyline", { points: points.join(" "), class: s.className }));
    }
  }
  svg.setAttribute("viewBox", "0 0 " + width + " " + height);
  svg.replaceChildren(...children);
}

/**
 * The stretches of points to join with a line: a null value (the node did not answer) or
 * more than gapMs between two polls (a throttled background tab) starts a new one.
 */
function runs(points) {
  const found = [];
  let current = [];
  for (const point of points) {
    const previous = current[current.length - 1];
    if (point.value === null || (previous && point.atMs - previous.atMs > gapMs)) {
      if (current.length > 0) found.push(current);
      current = [];
    }
    if (point.value !== null) current.push(point);
  }
  if (current.length > 0) found.push(current);
  // A lone point still shows: as a flat stroke a third of a poll wide.
  return found.map((run) =>
    run.length === 1 ? [{ atMs: run[0].atMs - pollMs / 3, value: run[0].value }, run[0]] : run
  );
}

/** 1, 2 or 5 times a power of ten, at least the value (1 for nothing). */
function niceCeiling(value) {
  if (!(value > 0)) return 1;
  const power = Math.pow(10, Math.floor(Math.log10(value)));
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

async function lookUp(event) {
  event.preventDefault();
  const resource = byId("lookup-resource").value;
  const durability = Number(byId("lookup-durability").value);
  const result = byId("lookup-result");
  result.dataset.state = "asking";
  result.replaceChildren("asking node " + view.nodeId + "\u2026");
  try {
    const response = await fetch("v1/locks/get-info", {
      method: "POST",
      headers: { "Content-Type": "application/json", ...authHeaders() },
      body: JSON.stringify({ resource, durability }),
      signal: AbortSignal.timeout(fetchTimeoutMs * 2),
    });
    showAnswer(result, resource, await response.json());
  } catch (error) {
    result.dataset.state = "error";
    result.replaceChildren("no answer: " + (error && error.message ? error.message : error));
  }
}

function showAnswer(result, resource, answer) {
  if (answer.type === 4) {
    result.dataset.state = "held";
    const lease = (answer.expiresMs / 1000).toFixed(1) + " s (until " +
      new Date(answer.expires).toLocaleTimeString() + ")";
    result.replaceChildren(el("dl", {}, [
      el("dt", {}, ["resource"]), el("dd", { "data-field": "resource" }, [resource]),
      el("dt", {}, ["owner"]), el("dd", { "data-field": "owner" }, [answer.owner]),
      el("dt", {}, ["fencing token"]),
      el("dd", { "data-field": "fencingToken" }, [String(answer.fencingToken)]),
      el("dt", {}, ["lease left"]), el("dd", { "data-field": "lease" }, [lease]),
    ]));
  } else if (answer.type === 102) {
    result.dataset.state = "free";
    result.replaceChildren("not held: " + resource + " has no owner now");
  } else {
    result.dataset.state = "error";
    result.replaceChildren("type " + answer.type + ": " + (answer.error || "unexpected answer"));
  }
}

byId("lookup").addEventListener("submit", lookUp);
byId("token-form").addEventListener("submit", useToken);
poll();
`;
