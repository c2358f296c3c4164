/**
 * GET /ui: the dashboard every node serves, as one HTML document with its style and scripts
 * inline. The page is text in TypeScript modules, not files beside the executable, so that
 * `bun build --compile` bundles it like any other code and Bun, Deno and the compiled binary
 * serve the same bytes (an import `with { type: "text" }` needs a flag under Deno). It loads
 * nothing from anywhere but the node that served it: no CDN, no font, no library; the charts
 * are inline SVG. Its Content-Security-Policy says so to the browser, too.
 */
import { dashboardScript } from "./dashboard-script.ts";
import { requestStatsScript } from "./request-stats-script.ts";

/**
 * Scripts and styles only from this document; fetches only to the node that served it. The
 * inline script and style are allowed by name ('unsafe-inline'): the page writes no HTML from
 * data (dashboard-script.ts), so there is no markup to inject.
 */
export const dashboardContentSecurityPolicy = "default-src 'none'; " +
  "script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const style = `
:root {
  color-scheme: light;
  --ink: #1d2433; --muted: #667085; --line: #e3e7ee; --paper: #f6f7f9; --card: #ffffff;
  --up: #1a7f4b; --up-bg: #e3f5ea; --down: #b42318; --down-bg: #fdeceb;
  --behind: #a15c07; --behind-bg: #fdf3e1; --unknown: #667085; --unknown-bg: #eef0f3;
  --rate: #2e5aac; --p50: #2e8a6e; --p99: #c2571a;
}
* { box-sizing: border-box; }
body {
  margin: 0; background: var(--paper); color: var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
}
header {
  display: flex; flex-wrap: wrap; align-items: baseline; gap: 6px 18px;
  padding: 14px 24px; background: #1d2433; color: #fff;
}
header h1 { margin: 0; font-size: 20px; letter-spacing: 0.02em; }
header .where { font-size: 15px; }
header #version { margin-left: auto; color: #c5cbd6; }
#status[data-state="live"] { color: #8fe0b0; }
#status[data-state="down"] { color: #ffb4ab; font-weight: 600; }
main {
  display: grid; gap: 16px; padding: 16px 24px 32px;
  grid-template-columns: repeat(auto-fit, minmax(440px, 1fr));
}
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; }
.card h2 { margin: 0 0 10px; font-size: 15px; }
.wide { grid-column: 1 / -1; }
.tall { grid-row: span 2; }
#summary { display: flex; flex-wrap: wrap; gap: 12px 40px; }
.tile .value { font-size: 26px; font-weight: 600; font-variant-numeric: tabular-nums; }
.tile .label, .muted, .note { color: var(--muted); }
.note { font-size: 12px; margin: 8px 0 0; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); }
th { font-weight: 600; color: var(--muted); font-size: 12px; }
td.number, th.number { text-align: right; }
tr.led-here td:first-child { box-shadow: inset 3px 0 0 var(--rate); }
td.warn { color: var(--down); font-weight: 600; }
.badge {
  display: inline-block; margin: 0 4px 2px 0; padding: 0 7px; border-radius: 9px;
  font-size: 12px; font-weight: 600; white-space: nowrap;
}
.badge.up { color: var(--up); background: var(--up-bg); }
.badge.down { color: var(--down); background: var(--down-bg); }
.badge.behind { color: var(--behind); background: var(--behind-bg); }
.badge.unknown { color: var(--unknown); background: var(--unknown-bg); }
figure { margin: 0 0 12px; }
figcaption { color: var(--muted); font-size: 12px; margin-bottom: 2px; }
figcaption .key { display: inline-block; width: 14px; height: 3px; vertical-align: middle; margin: 0 4px 0 10px; }
svg { width: 100%; height: auto; display: block; }
svg .grid { stroke: var(--line); stroke-width: 1; }
svg .axis { fill: var(--muted); font-size: 11px; }
svg .end { text-anchor: end; }
svg polyline { fill: none; stroke-width: 2; stroke-linejoin: round; stroke-linecap: round; }
.line-rate { stroke: var(--rate); } .line-p50 { stroke: var(--p50); } .line-p99 { stroke: var(--p99); }
form { display: flex; gap: 8px; flex-wrap: wrap; }
input, select, button { font: inherit; padding: 5px 8px; border: 1px solid #c8ceda; border-radius: 6px; }
input { flex: 1 1 240px; }
button { background: #2e5aac; color: #fff; border-color: #2e5aac; cursor: pointer; }
#lookup-result { margin-top: 10px; min-height: 1.5em; }
#lookup-result[data-state="error"] { color: var(--down); }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 0; }
dt { color: var(--muted); }
dd { margin: 0; font-family: ui-monospace, "DejaVu Sans Mono", monospace; word-break: break-all; }
[hidden] { display: none !important; }
#token-reason { color: var(--down); }
`;

const body = `
<header>
  <h1>kahuna</h1>
  <span class="where">node <b id="serving-node">&hellip;</b> at <span id="serving-address"></span></span>
  <span id="status" data-state="connecting">connecting&hellip;</span>
  <span id="version"></span>
</header>
<main>
  <section class="card wide" id="token-box" hidden>
    <h2>A token, please</h2>
    <p id="token-reason"></p>
    <form id="token-form">
      <input id="token-input" type="password" required autocomplete="off"
        placeholder="kahuna_... (a client with admin)" aria-label="token">
      <button type="submit">Use it</button>
    </form>
    <p class="note">Kept in this tab only, and sent to this node with each request.</p>
  </section>
  <section class="card wide" id="summary">
    <div class="tile"><div class="value" id="nodes-up">&ndash;</div><div class="label">nodes up</div></div>
    <div class="tile"><div class="value" id="partitions-with-leader">&ndash;</div>
      <div class="label">partitions with a leader</div></div>
    <div class="tile"><div class="value" id="locks-held">&ndash;</div>
      <div class="label">locks held <span id="locks-held-note"></span></div></div>
    <div class="tile"><div class="value" id="request-rate">&ndash;</div>
      <div class="label">requests/s answered here</div></div>
  </section>
  <section class="card">
    <h2>Nodes</h2>
    <table id="nodes">
      <thead><tr><th>node</th><th>peer address</th><th>state</th><th class="number">leads</th></tr></thead>
      <tbody id="nodes-body"></tbody>
    </table>
    <p class="note">A node is up while this node's peer connection to it is open; this node is up
      while it answers this page.</p>
  </section>
  <section class="card tall">
    <h2>Requests answered by this node</h2>
    <figure>
      <figcaption>rate, per second<span class="key" style="background: var(--rate)"></span></figcaption>
      <svg id="rate-chart" role="img" aria-label="request rate"></svg>
    </figure>
    <figure>
      <figcaption>latency, ms<span class="key" style="background: var(--p50)"></span>p50
        <span class="key" style="background: var(--p99)"></span>p99</figcaption>
      <svg id="latency-chart" role="img" aria-label="request latency"></svg>
    </figure>
  </section>
  <section class="card">
    <h2>Look a lock up</h2>
    <form id="lookup">
      <input id="lookup-resource" required placeholder="resource, e.g. locks/tasks/123" aria-label="resource">
      <select id="lookup-durability" aria-label="durability">
        <option value="1">persistent</option>
        <option value="0">ephemeral</option>
      </select>
      <button type="submit">Look up</button>
    </form>
    <div id="lookup-result"></div>
  </section>
  <section class="card wide">
    <h2>Partitions</h2>
    <table id="partitions">
      <thead><tr><th class="number">partition</th><th>leader</th><th class="number">term</th>
        <th class="number">commit</th><th class="number">applied</th><th>replicas: lag</th>
        <th class="number">locks held</th></tr></thead>
      <tbody id="partitions-body"></tbody>
    </table>
    <p class="note">A bar marks the partitions this node leads. Commit and applied are this
      node's. Replicas, their lag (entries of the leader's log not known to be on them) and locks
      held are known only to a partition's leader: for the others, open the leader's /ui.</p>
  </section>
</main>
`;

/** The whole document; the same text for every request. */
export function dashboardPage(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>kahuna dashboard</title>
<style>${style}</style>
</head>
<body>${body}<script>${requestStatsScript}${dashboardScript}</script>
</body>
</html>
`;
}
