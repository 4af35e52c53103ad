/**
 * The dashboard page: one HTML document with its style and script inline, written by hand, no
 * library and no request anywhere but this server's own `api/events`. The script reads the
 * token from the page's own URL and sends it back with its requests.
 */

import { PAGE_SCRIPT } from './page-script.js';

const STYLE = `
:root { --bg: #f4f6f9; --panel: #fff; --ink: #1d2430; --muted: #667085; --line: #e4e7ec; --accent: #3b5bdb; --bad: #e03131; }
* { box-sizing: border-box; }
body { margin: 0; font: 13px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: var(--bg); color: var(--ink); }
header { display: flex; align-items: center; gap: 16px; padding: 10px 20px; background: #1d2430; color: #fff; }
header h1 { font-size: 16px; margin: 0; font-weight: 650; letter-spacing: .01em; }
header .source { color: #c1c7d0; }
.status { margin-left: auto; display: flex; align-items: center; gap: 6px; color: #c1c7d0; }
.dot { width: 9px; height: 9px; border-radius: 50%; background: #adb5bd; }
.dot.live { background: #40c057; }
.dot.down { background: #fa5252; }
main { padding: 16px 20px 28px; display: grid; gap: 14px; max-width: 1600px; }
.banner { background: #fff4e6; border: 1px solid #ffd8a8; color: #d9480f; padding: 8px 12px; border-radius: 6px; }
.banner[hidden] { display: none; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(130px, 1fr)); gap: 12px; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 9px 14px; }
.card .label { color: var(--muted); font-size: 11px; text-transform: uppercase; letter-spacing: .05em; }
.card .value { font-size: 22px; font-weight: 650; font-variant-numeric: tabular-nums; }
.card.bad .value { color: var(--bad); }
section { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; min-width: 0; }
section h2 { font-size: 13px; margin: 0 0 8px; font-weight: 650; display: flex; gap: 10px; align-items: baseline; }
section h2 .note { color: var(--muted); font-weight: 400; font-size: 12px; }
.scroll { overflow-x: auto; }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
th { text-align: left; color: var(--muted); font-weight: 500; font-size: 11px; text-transform: uppercase; letter-spacing: .04em; border-bottom: 1px solid var(--line); padding: 4px 8px; }
td { padding: 5px 8px; border-bottom: 1px solid #f0f2f5; white-space: nowrap; }
.num { text-align: right; }
.muted { color: var(--muted); }
.mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; }
.pill { display: inline-block; padding: 1px 9px; border-radius: 10px; font-size: 11px; font-weight: 600; }
.pill.busy, .pill.running { background: #d3f9d8; color: #2b8a3e; }
.pill.idle, .pill.finished { background: #e9ecef; color: #495057; }
.pill.starting, .pill.stopping { background: #fff3bf; color: #e67700; }
.pill.crashed, .pill.killed { background: #ffe3e3; color: #c92a2a; }
.pill.exited { background: #f1f3f5; color: #868e96; }
.meter { position: relative; display: inline-block; vertical-align: middle; width: 90px; height: 14px; background: #eef1f5; border-radius: 3px; overflow: hidden; }
.meter > i { position: absolute; top: 0; bottom: 0; left: 0; background: var(--accent); }
.meter > i.fail { background: var(--bad); }
.meter > b { position: absolute; inset: 0; font-size: 10.5px; font-weight: 600; line-height: 14px; text-align: center; color: #1d2430; }
.meter.wide { width: 220px; height: 16px; }
.meter.wide > b { line-height: 16px; }
canvas { display: block; width: 100%; }
canvas.spark { width: 120px; height: 26px; display: inline-block; vertical-align: middle; }
.legend { display: flex; gap: 14px; flex-wrap: wrap; font-size: 12px; color: var(--muted); margin-top: 8px; }
.legend i { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 5px; vertical-align: -1px; }
.charts { display: grid; grid-template-columns: 1fr 1fr; gap: 14px; }
@media (max-width: 900px) { .charts { grid-template-columns: 1fr; } }
.errors { list-style: none; margin: 0; padding: 0; }
.errors li { border-top: 1px solid var(--line); padding: 6px 0; }
.errors li:first-child { border-top: 0; }
.errors .head { display: flex; gap: 10px; flex-wrap: wrap; align-items: baseline; }
.errors .code { color: var(--bad); font-weight: 650; }
.errors .message { overflow-wrap: anywhere; }
summary { cursor: pointer; color: var(--muted); font-size: 12px; }
pre { margin: 6px 0 0; padding: 8px 10px; background: #f8f9fa; border-radius: 4px; overflow: auto; max-height: 220px; font-size: 11.5px; }
.empty { color: var(--muted); padding: 4px 0; }
`;

const BODY = `
<header>
  <h1>fanout</h1><span class="source" id="source">connecting…</span>
  <span class="status"><span class="dot" id="dot"></span><span id="status">connecting</span></span>
</header>
<main>
  <div class="banner" id="problem" hidden></div>
  <div class="cards" id="cards"></div>
  <section>
    <h2>Task stream <span class="note" id="stream-note">one lane per worker, one bar per batch</span></h2>
    <canvas id="stream" aria-label="Task stream: one lane per worker, one bar per batch"></canvas>
    <div class="legend" id="legend"></div>
  </section>
  <section>
    <h2>Workers <span class="note" id="workers-note"></span></h2>
    <div class="scroll"><table id="workers"><thead><tr>
      <th>machine</th><th class="num">pid</th><th>worker</th><th>state</th><th>task</th><th>utilisation</th>
      <th class="num">heap</th><th class="num">RSS</th><th class="num">tasks done</th><th class="num">failures</th>
    </tr></thead><tbody></tbody></table></div>
  </section>
  <section>
    <h2>Calls <span class="note" id="calls-note"></span></h2>
    <div class="scroll"><table id="calls"><thead><tr>
      <th class="num">#</th><th>call</th><th>task</th><th>progress</th><th class="num">items/s</th><th>throughput</th>
      <th>batch time</th><th class="num">elapsed</th><th class="num">ETA</th><th>state</th>
    </tr></thead><tbody></tbody></table></div>
  </section>
  <div class="charts">
    <section><h2>Throughput <span class="note" id="throughput-note">items per second</span></h2><canvas id="throughput"></canvas></section>
    <section><h2>Batch duration <span class="note" id="latency-note">mean and longest per second</span></h2><canvas id="latency"></canvas></section>
  </div>
  <section>
    <h2>Errors <span class="note">the latest first</span></h2>
    <ul class="errors" id="errors"></ul>
  </section>
</main>
`;

/** The page, with `nonce` on its script and style (the server's Content-Security-Policy allows only those). */
export function dashboardPage(nonce: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>fanout dashboard</title>
<link rel="icon" href="data:,">
<style nonce="${nonce}">${STYLE}</style>
</head>
<body>${BODY}<script nonce="${nonce}">${PAGE_SCRIPT}</script>
</body>
</html>
`;
}
