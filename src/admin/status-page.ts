// The status page served at the admin server's `/` (issue 18): plain HTML, CSS and JavaScript in
// one document, no build step, nothing fetched from elsewhere (it must work on a machine without
// internet). It polls /status once a second — the same JSON anyone can curl — and redraws: per
// group the master and since when, replicas with health and lag, sentinels and what each names,
// sessions per listener, commands/s, per-command latency, and the failover timeline with times
// relative to the fence; then recent events and slow commands. Narrow screens get one column.
//
// Kept as a string in a module so it ships inside dist/ with the code. Written with String.raw and
// without template literals or "${" inside, so the page's JavaScript reaches the browser as is.
export const STATUS_PAGE_HTML = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>redis-sentinel-proxy status</title>
<link rel="icon" href="data:,">
<style>
:root {
  --bg: #f4f6f9; --card: #fff; --ink: #1c2430; --muted: #667085; --line: #e3e7ee;
  --ok: #127a46; --ok-bg: #e3f6ec; --warn: #9a5b00; --warn-bg: #fff3d6; --bad: #b42318; --bad-bg: #fde8e6;
  --info: #1d4ed8; --info-bg: #e6edff; --accent: #d92d20;
  --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
}
@media (prefers-color-scheme: dark) {
  :root { --bg: #0f141b; --card: #171e27; --ink: #e6eaf0; --muted: #93a0b2; --line: #263140;
    --ok: #4ade80; --ok-bg: #12301f; --warn: #fbbf24; --warn-bg: #33270c; --bad: #f87171; --bad-bg: #3a1616;
    --info: #93b4ff; --info-bg: #18233d; }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
header { display: flex; flex-wrap: wrap; align-items: center; gap: 8px 16px; padding: 12px 20px; background: var(--card); border-bottom: 1px solid var(--line); position: sticky; top: 0; z-index: 1; }
header h1 { font-size: 17px; margin: 0; letter-spacing: .2px; }
header h1 span { color: var(--accent); }
header .meta { color: var(--muted); font-size: 13px; }
#live { margin-left: auto; font-size: 13px; color: var(--muted); display: flex; align-items: center; gap: 6px; }
#live i { width: 9px; height: 9px; border-radius: 50%; background: var(--muted); display: inline-block; }
#live.on i { background: var(--ok); box-shadow: 0 0 0 3px var(--ok-bg); }
#live.off i { background: var(--bad); box-shadow: 0 0 0 3px var(--bad-bg); }
main { padding: 16px 20px 40px; max-width: 1500px; margin: 0 auto; }
.group { margin-bottom: 22px; }
.group > h2 { font-size: 16px; margin: 4px 0 10px; display: flex; align-items: center; gap: 10px; flex-wrap: wrap; }
.grid { display: grid; gap: 14px; grid-template-columns: repeat(12, 1fr); }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 14px 16px; min-width: 0; }
.card h3 { margin: 0 0 10px; font-size: 12px; text-transform: uppercase; letter-spacing: .6px; color: var(--muted); font-weight: 600; }
.c3 { grid-column: span 3; } .c4 { grid-column: span 4; } .c5 { grid-column: span 5; } .c6 { grid-column: span 6; } .c7 { grid-column: span 7; } .c8 { grid-column: span 8; } .c12 { grid-column: span 12; }
@media (max-width: 1100px) { .c3, .c4, .c5 { grid-column: span 6; } .c6, .c7, .c8 { grid-column: span 12; } .group .c5, .group .c4 { grid-column: span 12; } }
@media (max-width: 700px) { .grid { grid-template-columns: 1fr; } .c3, .c4, .c5, .c6, .c7, .c8, .c12, .group .c4, .group .c5 { grid-column: auto; } main { padding: 12px 10px 30px; } header { padding: 10px 12px; } }
.badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px; font-weight: 600; white-space: nowrap; }
.ok { color: var(--ok); background: var(--ok-bg); } .warn { color: var(--warn); background: var(--warn-bg); }
.bad { color: var(--bad); background: var(--bad-bg); } .info { color: var(--info); background: var(--info-bg); }
.master { font: 600 22px/1.2 var(--mono); word-break: break-all; }
.sub { color: var(--muted); font-size: 13px; margin-top: 4px; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(110px, 1fr)); gap: 10px; }
.tile .v { font: 600 20px/1.2 var(--mono); }
.tile .k { color: var(--muted); font-size: 12px; }
.tile.alert .v { color: var(--bad); }
table { width: 100%; border-collapse: collapse; font-size: 13px; }
th { text-align: left; color: var(--muted); font-weight: 600; font-size: 12px; padding: 4px 6px; border-bottom: 1px solid var(--line); }
td { padding: 5px 6px; border-bottom: 1px solid var(--line); vertical-align: top; }
tr:last-child td { border-bottom: 0; }
td.mono, .mono { font-family: var(--mono); }
td.num, th.num { text-align: right; font-family: var(--mono); }
.scroll { overflow-x: auto; }
.empty { color: var(--muted); font-style: italic; }
.stack { display: flex; flex-direction: column; gap: 14px; min-width: 0; }
.stack > .card { flex: 0 0 auto; }
td.time { white-space: nowrap; }
#events { max-height: 560px; overflow-y: auto; }
.fo-head { display: flex; flex-wrap: wrap; gap: 6px 10px; align-items: center; margin-bottom: 8px; }
.fo-head .route { font-family: var(--mono); }
.timeline { list-style: none; margin: 0; padding: 0 0 0 4px; }
.timeline li { position: relative; padding: 0 0 9px 22px; }
.timeline li::before { content: ""; position: absolute; left: 4px; top: 6px; width: 9px; height: 9px; border-radius: 50%; background: var(--muted); }
.timeline li::after { content: ""; position: absolute; left: 8px; top: 16px; bottom: -4px; width: 1px; background: var(--line); }
.timeline li:last-child::after { display: none; }
.timeline li.proxy::before { background: var(--info); }
.timeline li.key::before { background: var(--accent); }
.timeline li.done::before { background: var(--ok); }
.timeline .t { font-family: var(--mono); color: var(--muted); display: inline-block; min-width: 78px; }
.timeline .s { font-weight: 600; }
.timeline .d { color: var(--muted); font-size: 12px; display: block; margin-left: 82px; word-break: break-word; }
@media (max-width: 700px) { .timeline .d { margin-left: 0; } }
.counts { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 6px; }
.older { margin-top: 10px; font-size: 13px; }
.older div { padding: 3px 0; border-top: 1px dashed var(--line); }
svg.spark { width: 100%; height: 36px; display: block; margin-top: 6px; }
svg.spark path { fill: none; stroke: var(--info); stroke-width: 1.5; }
svg.spark path.area { fill: var(--info-bg); stroke: none; }
.ev-src { font-size: 11px; }
#error { display: none; margin: 0 0 14px; }
#error.show { display: block; }
</style>
</head>
<body>
<header>
  <h1>redis-sentinel-<span>proxy</span></h1>
  <div class="meta" id="meta">loading...</div>
  <div id="live"><i></i><span>connecting</span></div>
</header>
<main>
  <div id="error" class="card bad"></div>
  <div id="groups"></div>
  <div class="grid">
    <section class="card c7"><h3>Recent events</h3><div class="scroll" id="events"></div></section>
    <section class="card c5"><h3>Slow commands (end to end, held time included)</h3><div class="scroll" id="slowlog"></div></section>
  </div>
</main>
<script>
"use strict";
var POLL_MS = 1000;
var rates = {};   // group -> [{t, c}]: the commands counter at each poll, for commands/s
var failures = 0;

function esc(v) {
  return String(v === undefined || v === null ? "" : v).replace(/[&<>"']/g, function (c) {
    return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
  });
}
function badge(text, cls) { return '<span class="badge ' + cls + '">' + esc(text) + "</span>"; }
function dur(ms) {
  if (ms === null || ms === undefined) return "-";
  var s = Math.floor(ms / 1000);
  if (s < 60) return s + "s";
  var m = Math.floor(s / 60);
  if (m < 60) return m + "m " + (s % 60) + "s";
  var h = Math.floor(m / 60);
  if (h < 48) return h + "h " + (m % 60) + "m";
  return Math.floor(h / 24) + "d " + (h % 24) + "h";
}
function clock(at) { return at ? new Date(at).toLocaleTimeString([], { hour12: false }) : "-"; }
function rel(ms) {
  if (ms === undefined || ms === null) return "";
  var sign = ms < 0 ? "-" : "+";
  var a = Math.abs(ms);
  return sign + (a >= 10000 ? (a / 1000).toFixed(1) + " s" : a >= 1000 ? (a / 1000).toFixed(2) + " s" : a.toFixed(a < 10 ? 1 : 0) + " ms");
}
function num(n) { return n === null || n === undefined ? "-" : Number(n).toLocaleString(); }
function msFmt(v) { return v === null || v === undefined ? "-" : v < 1 ? v.toFixed(3) : v < 100 ? v.toFixed(2) : Math.round(v).toLocaleString(); }
function tile(k, v, alert) { return '<div class="tile' + (alert ? " alert" : "") + '"><div class="v">' + esc(v) + '</div><div class="k">' + esc(k) + "</div></div>"; }

function spark(points) {
  if (points.length < 2) return "";
  var max = 1;
  points.forEach(function (p) { if (p > max) max = p; });
  var w = 300, h = 36, step = w / (points.length - 1), d = "";
  points.forEach(function (p, i) { d += (i ? "L" : "M") + (i * step).toFixed(1) + "," + (h - 2 - (p / max) * (h - 4)).toFixed(1); });
  return '<svg class="spark" viewBox="0 0 300 36" preserveAspectRatio="none" aria-hidden="true"><path class="area" d="' + d + "L" + w + "," + h + "L0," + h + 'Z"/><path d="' + d + '"/></svg>';
}

function stateBadge(g) {
  if (g.state === "draining") return badge("draining", "warn");
  if (g.holding === "fence") return badge("failover: holding commands", "bad");
  if (g.holding) return badge("holding: " + g.holding, "bad");
  if (!g.ready) return badge("not ready", "bad");
  if (g.warning) return badge("ready (warning)", "warn");
  return badge("ready", "ok");
}

function rate(g, now) {
  var h = rates[g.group] || (rates[g.group] = []);
  h.push({ t: now, c: g.counters.commands });
  while (h.length > 61) h.shift();
  var series = [];
  for (var i = 1; i < h.length; i++) {
    var dt = (h[i].t - h[i - 1].t) / 1000;
    series.push(dt > 0 ? Math.max(0, (h[i].c - h[i - 1].c) / dt) : 0);
  }
  return series;
}

function masterCard(g, now) {
  var since = g.masterSince ? "since " + clock(g.masterSince) + " (" + dur(now - g.masterSince) + ")" : "";
  var why = g.notReadyReason ? '<div class="sub">' + esc(g.notReadyReason) + "</div>" : g.warning ? '<div class="sub">' + esc(g.warning) + "</div>" : "";
  return '<section class="card c4"><h3>Master</h3><div class="master" data-test="master">' + esc(g.master || "none verified") + "</div>" +
    '<div class="sub">' + esc(since) + (g.masterEpoch ? " &middot; epoch " + esc(g.masterEpoch) : "") + (g.configEpoch !== undefined ? " &middot; config epoch " + esc(g.configEpoch) : "") + "</div>" + why + "</section>";
}

function trafficCard(g, series) {
  var cur = series.length ? series[series.length - 1] : null;
  var listeners = (g.listeners || []).map(function (l) { return tile("sessions " + l.kind + (l.listen ? " " + l.listen : ""), num(l.sessions)); }).join("");
  var c = g.counters;
  return '<section class="card c8"><h3>Traffic</h3><div class="tiles">' +
    tile("commands/s", cur === null ? "-" : Math.round(cur).toLocaleString()) + listeners +
    tile("commands held", num(c.held)) + tile("hold timeouts", num(c.holdTimeouts), c.holdTimeouts > 0) +
    tile("lost in flight", num(c.lostInFlight), c.lostInFlight > 0) + tile("failovers", num(c.fences)) +
    "</div>" + spark(series) + "</section>";
}

function replicasCard(g) {
  var rows = (g.replicas || []).map(function (r) {
    var flags = (r.flags || []).filter(function (f) { return f !== "slave"; }).join(",");
    return "<tr><td class=mono>" + esc(r.addr) + "</td><td>" + (r.healthy ? badge("healthy", "ok") : badge("unhealthy", "bad")) +
      "</td><td>" + (r.linkUp ? "up" : "down") + (flags ? " <span class=sub>" + esc(flags) + "</span>" : "") +
      "</td><td class=num>" + (r.lagMs === null || r.lagMs === undefined ? "-" : esc(Math.round(r.lagMs)) + " ms") + "</td></tr>";
  }).join("");
  return '<section class="card"><h3>Replicas</h3><div class="scroll">' + (rows ? "<table><tr><th>replica</th><th>health</th><th>link</th><th class=num>lag</th></tr>" + rows + "</table>" : '<div class="empty">no replica reported</div>') + "</div></section>";
}

function sentinelsCard(g) {
  var s = g.sentinels || { list: [] };
  var rows = s.list.map(function (x) {
    return "<tr><td class=mono>" + esc(x.addr) + "</td><td>" + (x.reachable ? badge("up", "ok") : badge("unreachable", "bad")) + (x.tilt ? " " + badge("TILT", "warn") : "") +
      "</td><td class=mono>" + esc(x.master || "-") + "</td><td class=num>" + esc(x.configEpoch === undefined ? "-" : x.configEpoch) + "</td></tr>";
  }).join("");
  var majority = Math.floor(s.known / 2) + 1;
  return '<section class="card"><h3>Sentinels &middot; ' + esc(s.reachable) + " of " + esc(s.known) + " reachable " + (s.reachable >= majority ? badge("majority", "ok") : badge("no majority", "bad")) +
    '</h3><div class="scroll"><table><tr><th>sentinel</th><th>link</th><th>names master</th><th class=num>epoch</th></tr>' + rows + "</table></div></section>";
}

var KEY_STEPS = { "fence": 1, "master verified": 1, "fence lifted": 1, "+switch-master": 1, "+promoted-slave": 1 };
function timelineCard(g) {
  var fos = g.failovers || [];
  if (!fos.length) return '<section class="card c7"><h3>Failover timeline</h3><div class="empty" data-test="no-failover">no failover since the proxy started</div></section>';
  var f = fos[0];
  var st = f.state === "switched" ? badge("switched", "ok") : f.state === "aborted" ? badge("aborted: master kept", "warn") : badge("in progress", "bad");
  var head = '<div class="fo-head"><strong>#' + esc(f.id) + "</strong> " + st + ' <span class="route">' + esc(f.from || "?") + " &rarr; " + esc(f.to || "?") + "</span>" +
    '<span class="sub">' + esc(clock(f.startedAt)) + (f.durationMs !== undefined ? " &middot; held " + esc(rel(f.durationMs).slice(1)) : "") + "</span></div>";
  var steps = f.steps.map(function (s) {
    var proxyStep = s.step.charAt(0) !== "+" && s.step.charAt(0) !== "-";
    var cls = (s.step === "master verified" || s.step === "sessions re-homed") ? "done" : KEY_STEPS[s.step] ? "key" : proxyStep ? "proxy" : "";
    return '<li class="' + cls + '"><span class="t">' + esc(rel(s.atMs)) + '</span> <span class="s">' + esc(s.step) + "</span>" + (s.detail ? '<span class="d">' + esc(s.detail) + "</span>" : "") + "</li>";
  }).join("");
  var c = f.counts;
  var counts = '<div class="counts">' + badge("held " + c.held, "info") + badge("timed out " + c.holdTimeouts, c.holdTimeouts ? "bad" : "ok") +
    badge("lost in flight " + c.lostInFlight, c.lostInFlight ? "bad" : "ok") + badge("re-issued " + c.reissued, "info") + badge("re-homed " + c.rehomed, "info") +
    (f.settled ? "" : badge("counting", "warn")) + "</div>";
  var older = fos.slice(1).map(function (o) {
    return "<div><strong>#" + esc(o.id) + "</strong> " + esc(clock(o.startedAt)) + " " + esc(o.state) + ' <span class="mono">' + esc(o.from || "?") + " &rarr; " + esc(o.to || "?") + "</span>" +
      (o.durationMs !== undefined ? " &middot; " + esc(rel(o.durationMs).slice(1)) : "") + " &middot; held " + esc(o.counts.held) + ", lost " + esc(o.counts.lostInFlight) + "</div>";
  }).join("");
  return '<section class="card c7" data-test="timeline"><h3>Failover timeline</h3>' + head + '<ol class="timeline">' + steps + "</ol>" + counts + (older ? '<div class="older">' + older + "</div>" : "") + "</section>";
}

function latencyCard(g) {
  var rows = (g.latency || []).map(function (l) {
    return "<tr><td class=mono>" + esc(l.command) + "</td><td class=num>" + num(l.count) + "</td><td class=num>" + msFmt(l.p50Ms) + "</td><td class=num>" + msFmt(l.p99Ms) + "</td></tr>";
  }).join("");
  return '<section class="card"><h3>Latency by command (ms, since start)</h3><div class="scroll">' + (rows ? '<table><tr><th>command</th><th class=num>calls</th><th class=num>p50</th><th class=num>p99</th></tr>' + rows + "</table>" : '<div class="empty">no command yet</div>') + "</div></section>";
}

function renderGroup(g, now) {
  var series = rate(g, now);
  return '<div class="group" data-group="' + esc(g.group) + '"><h2>' + esc(g.group) + " " + stateBadge(g) + "</h2><div class=grid>" +
    masterCard(g, now) + trafficCard(g, series) + timelineCard(g) +
    '<div class="c5 stack">' + replicasCard(g) + sentinelsCard(g) + latencyCard(g) + "</div></div></div>";
}

function renderEvents(list) {
  if (!list.length) return '<div class="empty">no event yet</div>';
  var rows = list.slice().reverse().slice(0, 30).map(function (e) {
    return "<tr><td class=\"mono time\">" + esc(clock(e.at)) + "</td><td>" + esc(e.group) + "</td><td>" + badge(e.type, e.source === "proxy" ? "info" : "warn") +
      "</td><td>" + esc(e.detail) + (e.sentinel ? ' <span class="sub">from ' + esc(e.sentinel) + "</span>" : "") + (e.sinceFenceMs !== undefined ? ' <span class="sub">(' + esc(rel(e.sinceFenceMs)) + " after the fence)</span>" : "") + "</td></tr>";
  }).join("");
  return "<table><tr><th>time</th><th>group</th><th>event</th><th>detail</th></tr>" + rows + "</table>";
}

function renderSlow(list) {
  if (!list.length) return '<div class="empty">no command slower than 10 ms</div>';
  return '<table><tr><th>command</th><th class=num>ms</th><th>group</th><th>node</th><th class=num>session</th><th>at</th></tr>' + list.map(function (s) {
    return "<tr><td class=mono>" + esc(s.command) + "</td><td class=num>" + msFmt(s.durationMs) + "</td><td>" + esc(s.group) + "</td><td class=mono>" + esc(s.node || "-") + "</td><td class=num>" + esc(s.session) + "</td><td class=\"mono time\">" + esc(clock(s.at)) + "</td></tr>";
  }).join("") + "</table>";
}

function setLive(ok, text) {
  var el = document.getElementById("live");
  el.className = ok ? "on" : "off";
  el.querySelector("span").textContent = text;
}

function render(s) {
  var now = Date.now();
  document.getElementById("meta").textContent = "v" + s.build.version + " \u00b7 Node " + s.build.node + " \u00b7 up " + dur(s.uptimeSeconds * 1000) + (s.shuttingDown ? " \u00b7 shutting down" : "");
  document.getElementById("groups").innerHTML = s.groups.length ? s.groups.map(function (g) { return renderGroup(g, now); }).join("") : '<div class="card empty">no group configured</div>';
  document.getElementById("events").innerHTML = renderEvents(s.events || []);
  document.getElementById("slowlog").innerHTML = renderSlow(s.slowlog || []);
}

function poll() {
  fetch("status", { cache: "no-store" })
    .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
    .then(function (s) {
      failures = 0;
      render(s);
      setLive(true, "live \u00b7 " + new Date().toLocaleTimeString());
      document.getElementById("error").className = "card bad";
    })
    .catch(function (err) {
      failures++;
      setLive(false, "disconnected");
      var e = document.getElementById("error");
      e.textContent = "Cannot reach the proxy's admin server (" + (err && err.message ? err.message : err) + "); retrying.";
      if (failures > 1) e.className = "card bad show";
    })
    .then(function () { setTimeout(poll, POLL_MS); });
}
poll();
</script>
</body>
</html>
`;
