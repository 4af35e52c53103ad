/**
 * The dashboard page's script, as text (it runs in the browser, not here): it listens to
 * `api/events` (Server-Sent Events, one state a push) and draws the state with the DOM and
 * canvas. Written without template literals, so it can sit in this String.raw literal as it is.
 * Text from the state (task names, error messages) only ever goes in through textContent.
 */

export const PAGE_SCRIPT = String.raw`
'use strict';
(function () {
  var params = new URLSearchParams(location.search);
  var token = params.get('token');
  var query = token ? '?token=' + encodeURIComponent(token) : '';
  var PALETTE = ['#4c6ef5', '#12b886', '#f59f00', '#be4bdb', '#fd7e14', '#15aabf', '#82c91e', '#e64980', '#7950f2', '#868e96'];
  var LANE = 22, LABEL = 190, AXIS = 22;
  var state = null;
  var receivedAt = 0;
  var openErrors = {};

  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function num(n) {
    if (n === null || n === undefined || !isFinite(n)) return '–';
    var a = Math.abs(n);
    if (a >= 1e9) return (n / 1e9).toFixed(2) + 'G';
    if (a >= 1e6) return (n / 1e6).toFixed(2) + 'M';
    if (a >= 1e4) return (n / 1e3).toFixed(1) + 'k';
    if (a > 0 && a < 10 && n !== Math.round(n)) return n.toFixed(1);
    return Math.round(n).toLocaleString('en-US');
  }
  function bytes(b) {
    if (b === null || b === undefined) return '–';
    if (b >= 1073741824) return (b / 1073741824).toFixed(2) + ' GB';
    if (b >= 1048576) return (b / 1048576).toFixed(1) + ' MB';
    if (b >= 1024) return (b / 1024).toFixed(0) + ' kB';
    return b + ' B';
  }
  function duration(ms) {
    if (ms === null || ms === undefined || !isFinite(ms)) return '–';
    if (ms < 1) return ms.toFixed(2) + ' ms';
    if (ms < 1000) return ms.toFixed(ms < 10 ? 1 : 0) + ' ms';
    var s = ms / 1000;
    if (s < 60) return s.toFixed(s < 10 ? 1 : 0) + ' s';
    var m = Math.floor(s / 60);
    if (m < 60) return m + 'm' + String(Math.floor(s % 60)).padStart(2, '0') + 's';
    return Math.floor(m / 60) + 'h' + String(m % 60).padStart(2, '0') + 'm';
  }
  function clock(t) { return new Date(t).toLocaleTimeString('en-GB', { hour12: false }); }
  function color(i) { return i === undefined || i < 0 ? '#adb5bd' : PALETTE[i % PALETTE.length]; }
  function now() { return state ? state.now + (performance.now() - receivedAt) : Date.now(); }
  function processOf(worker) { return worker.id.slice(0, worker.id.lastIndexOf('/')); }

  /** Items per second over the last complete seconds of a series. */
  function rateOf(series, seconds) {
    var items = series.items, sum = 0, n = 0;
    for (var k = items.length - 2; k >= 0 && n < seconds; k--, n++) sum += items[k];
    return n ? sum / n : 0;
  }

  function connect() {
    var events = new EventSource('api/events' + query);
    events.addEventListener('state', function (e) {
      state = JSON.parse(e.data);
      receivedAt = performance.now();
      $('dot').className = 'dot live';
      $('status').textContent = 'live · ' + clock(state.now);
      render();
    });
    events.onerror = function () {
      $('dot').className = 'dot down';
      $('status').textContent = 'disconnected, retrying';
    };
  }

  function card(parent, id, label, value, raw, bad) {
    var c = el('div', 'card' + (bad ? ' bad' : ''));
    c.appendChild(el('div', 'label', label));
    var v = el('div', 'value', value);
    v.id = id;
    v.dataset.value = String(raw);
    c.appendChild(v);
    parent.appendChild(c);
  }

  function render() {
    var s = state;
    var src = s.source;
    var live = s.workers.filter(function (w) { return w.endedAt === null; });
    var busy = live.filter(function (w) { return w.state === 'busy'; }).length;
    var text = src.kind === 'pool'
      ? src.backend + ' pool' + (src.size ? ' of ' + src.size : '') + (src.queue ? ' · queue ' + src.queue : '') + ' · ' + src.machine + ' (pid ' + src.pid + ')'
      : 'redis queue ' + src.queue + ' · ' + s.processes.length + ' worker process' + (s.processes.length === 1 ? '' : 'es');
    $('source').textContent = text;
    var problem = $('problem');
    problem.hidden = !src.problem;
    problem.textContent = src.problem ? 'Cannot read Redis: ' + src.problem : '';

    var cards = $('cards');
    clear(cards);
    card(cards, 'c-done', 'tasks done', num(s.totals.tasksDone), s.totals.tasksDone);
    var rate = rateOf(s.series, 3);
    card(cards, 'c-rate', 'items / s', num(rate), rate);
    card(cards, 'c-batches', 'batches', num(s.totals.batches), s.totals.batches);
    card(cards, 'c-workers', 'workers busy', busy + ' / ' + live.length, busy);
    card(cards, 'c-failures', 'failures', num(s.totals.failures), s.totals.failures, s.totals.failures > 0);
    card(cards, 'c-crashes', 'crashed · killed', s.totals.crashes + ' · ' + s.totals.kills, s.totals.crashes, s.totals.crashes > 0);
    if (s.queue) {
      card(cards, 'c-waiting', 'jobs waiting', num(s.queue.waiting), s.queue.waiting);
      card(cards, 'c-active', 'jobs running', num(s.queue.active), s.queue.active);
    }

    renderWorkers(s);
    renderCalls(s);
    renderErrors(s);
    renderLegend(s);
    var stream = $('stream');
    var perLane = s.workers.map(function (w) { return w.batches.length; });
    stream.dataset.lanes = String(perLane.length);
    stream.dataset.laneBars = perLane.join(',');
    stream.dataset.bars = String(perLane.reduce(function (a, b) { return a + b; }, 0));
    drawAll();
  }

  function pill(name) { return el('span', 'pill ' + name, name); }

  function meter(fraction, label, failed, wide) {
    var m = el('span', 'meter' + (wide ? ' wide' : ''));
    var bar = el('i');
    bar.style.width = (Math.max(0, Math.min(1, fraction)) * 100).toFixed(1) + '%';
    m.appendChild(bar);
    if (failed > 0) {
      var f = el('i', 'fail');
      f.style.width = (Math.min(1, failed) * 100).toFixed(1) + '%';
      m.appendChild(f);
    }
    m.appendChild(el('b', '', label));
    return m;
  }

  function renderWorkers(s) {
    var body = $('workers').tBodies[0];
    clear(body);
    if (s.workers.length === 0) {
      var tr = el('tr');
      var td = el('td', 'empty', s.processes.length
        ? 'No thread started yet: a fanout worker starts its threads with its first job.'
        : s.source.kind === 'redis' || s.source.backend === 'redis'
          ? 'No fanout worker has sent a heartbeat to this queue yet.'
          : 'No worker yet: workers start with the first call.');
      td.colSpan = 10;
      tr.appendChild(td);
      body.appendChild(tr);
    }
    s.workers.forEach(function (w) {
      var tr = el('tr');
      tr.dataset.worker = w.id;
      tr.appendChild(el('td', '', w.machine));
      tr.appendChild(el('td', 'num', w.pid));
      tr.appendChild(el('td', 'mono', w.label));
      var st = el('td');
      st.appendChild(pill(w.state));
      if (w.exit) st.appendChild(el('span', 'muted', ' ' + w.exit));
      tr.appendChild(st);
      var task = el('td', 'mono', w.task || '');
      if (w.task && w.busySince) task.appendChild(el('span', 'muted', ' ' + duration(now() - w.busySince)));
      tr.appendChild(task);
      var u = el('td');
      u.appendChild(meter(w.utilisation, Math.round(w.utilisation * 100) + '%', 0, false));
      tr.appendChild(u);
      tr.appendChild(el('td', 'num', bytes(w.heapUsed)));
      tr.appendChild(el('td', 'num', bytes(w.rss)));
      tr.appendChild(el('td', 'num', num(w.tasksDone)));
      tr.appendChild(el('td', 'num', num(w.failures)));
      body.appendChild(tr);
    });
    var processes = {};
    s.workers.forEach(function (w) { processes[processOf(w)] = true; });
    var note = s.processes.length
      ? s.processes.map(function (p) { return p.machine + ':' + p.pid + ' (' + (p.modules.join(', ') || 'no module') + (p.state === 'stopping' ? ', stopping' : '') + ')'; }).join(' · ')
      : '';
    $('workers-note').textContent = note;
  }

  function spark(values, stroke, fill) {
    var c = el('canvas', 'spark');
    requestAnimationFrame(function () { drawLines(c, 26, [{ values: values, stroke: stroke, fill: fill }], null, true); });
    return c;
  }

  function renderCalls(s) {
    var body = $('calls').tBodies[0];
    clear(body);
    if (s.calls.length === 0) {
      var tr = el('tr');
      var td = el('td', 'empty', s.source.kind === 'redis'
        ? 'Calls are known to the pools that make them: open a pool\'s own dashboard (new Pool({ dashboard: true })) to see them.'
        : 'No call yet.');
      td.colSpan = 10;
      tr.appendChild(td);
      body.appendChild(tr);
    }
    var t = now();
    s.calls.forEach(function (c) {
      var tr = el('tr');
      tr.appendChild(el('td', 'num muted', c.id));
      tr.appendChild(el('td', 'mono', c.call));
      tr.appendChild(el('td', 'mono', c.task));
      var p = el('td');
      var frac = c.total ? c.done / c.total : c.state === 'finished' ? 1 : 0;
      var label = num(c.done) + (c.total !== null ? ' / ' + num(c.total) : '') + (c.failed ? ' · ' + num(c.failed) + ' failed' : '');
      p.appendChild(meter(frac, label, c.total ? c.failed / c.total : 0, true));
      tr.appendChild(p);
      tr.appendChild(el('td', 'num', num(c.rate)));
      var span = callSpan(c);
      var th = el('td');
      th.appendChild(spark(c.series.items.slice(span[0], span[1]), '#3b5bdb', 'rgba(59,91,219,0.15)'));
      tr.appendChild(th);
      var means = c.series.durationSum.map(function (d, i) { return c.series.batches[i] ? d / c.series.batches[i] : null; });
      var lat = el('td');
      lat.appendChild(spark(means.slice(span[0], span[1]), '#f08c00', null));
      var lastMean = null;
      for (var k = means.length - 1; k >= 0; k--) if (means[k] !== null) { lastMean = means[k]; break; }
      lat.appendChild(el('span', 'muted', ' ' + duration(lastMean)));
      tr.appendChild(lat);
      var elapsed = (c.endedAt || t) - c.startedAt;
      tr.appendChild(el('td', 'num', duration(elapsed)));
      var eta = c.state === 'running' && c.total !== null && c.rate > 0 ? ((c.total - c.done) / c.rate) * 1000 : null;
      tr.appendChild(el('td', 'num', c.state === 'running' ? duration(eta) : ''));
      var st = el('td');
      var finishedLabel = c.total !== null && c.done < c.total ? 'stopped' : 'finished';
      var pl = pill(c.state === 'running' ? 'running' : 'finished');
      if (c.state !== 'running') pl.textContent = finishedLabel;
      st.appendChild(pl);
      tr.appendChild(st);
      body.appendChild(tr);
    });
    var running = s.calls.filter(function (c) { return c.state === 'running'; }).length;
    $('calls-note').textContent = s.calls.length ? running + ' running' : '';
  }

  /** The indices of a call's series that it ran in: from its start to its end, the current (partial) second left out. */
  function callSpan(c) {
    var n = c.series.items.length;
    var firstSecond = c.series.end - n + 1;
    var from = Math.max(0, Math.floor(c.startedAt / 1000) - firstSecond);
    var to = c.endedAt === null ? n - 1 : Math.min(n, Math.floor(c.endedAt / 1000) - firstSecond + 1);
    if (to - from < 2) from = Math.max(0, to - 2);
    return [from, to];
  }

  function renderErrors(s) {
    var list = $('errors');
    Array.prototype.forEach.call(list.querySelectorAll('details'), function (d) {
      openErrors[d.dataset.key] = d.open;
    });
    clear(list);
    if (s.errors.length === 0) {
      list.appendChild(el('li', 'empty', 'No error.'));
      return;
    }
    s.errors.forEach(function (e) {
      var li = el('li');
      var head = el('div', 'head');
      head.appendChild(el('span', 'muted mono', clock(e.at)));
      if (e.code) head.appendChild(el('span', 'code mono', e.code));
      head.appendChild(el('span', 'message', e.name + ': ' + e.message));
      var where = [];
      if (e.task) where.push(e.task + (e.index !== null ? ' #' + e.index : ''));
      if (e.worker) where.push(e.worker);
      if (where.length) head.appendChild(el('span', 'muted', where.join(' · ')));
      li.appendChild(head);
      if (e.stack) {
        var d = el('details');
        d.dataset.key = e.at + '|' + e.message;
        d.open = !!openErrors[d.dataset.key];
        d.appendChild(el('summary', '', 'stack'));
        d.appendChild(el('pre', '', e.stack));
        li.appendChild(d);
      }
      list.appendChild(li);
    });
  }

  function renderLegend(s) {
    var legend = $('legend');
    clear(legend);
    s.taskNames.forEach(function (name, i) {
      var item = el('span');
      var chip = el('i');
      chip.style.background = color(i);
      item.appendChild(chip);
      item.appendChild(document.createTextNode(name));
      legend.appendChild(item);
    });
    if (s.taskNames.length) {
      var failed = el('span');
      var chip = el('i');
      chip.style.border = '2px solid #e03131';
      failed.appendChild(chip);
      failed.appendChild(document.createTextNode('batch with a failed item'));
      legend.appendChild(failed);
    }
  }

  function prepare(canvas, height) {
    var dpr = window.devicePixelRatio || 1;
    var w = canvas.clientWidth || 300;
    canvas.style.height = height + 'px';
    var W = Math.round(w * dpr), H = Math.round(height * dpr);
    if (canvas.width !== W || canvas.height !== H) { canvas.width = W; canvas.height = H; }
    var ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, height);
    return { ctx: ctx, w: w, h: height };
  }

  function step(span, parts, steps) {
    for (var i = 0; i < steps.length; i++) if (span / steps[i] <= parts) return steps[i];
    return steps[steps.length - 1];
  }

  function drawStream() {
    var s = state;
    if (!s) return;
    var canvas = $('stream');
    var lanes = s.workers;
    var g = prepare(canvas, Math.max(1, lanes.length) * LANE + AXIS);
    var ctx = g.ctx;
    var t1 = now();
    var first = t1;
    lanes.forEach(function (lane) {
      lane.batches.forEach(function (b) { if (b[0] < first && t1 - b[0] < 60000) first = b[0]; });
      if (lane.busySince && lane.endedAt === null && lane.busySince < first && t1 - lane.busySince < 60000) first = lane.busySince;
    });
    var span = Math.min(60000, Math.max(5000, (t1 - first) * 1.08));
    var t0 = t1 - span;
    var plotW = Math.max(10, g.w - LABEL - 6);
    function x(t) { return LABEL + ((t - t0) / span) * plotW; }
    var processes = {};
    lanes.forEach(function (w) { processes[processOf(w)] = true; });
    var manyProcesses = Object.keys(processes).length > 1;
    ctx.font = '11px system-ui, sans-serif';
    ctx.textBaseline = 'middle';
    if (lanes.length === 0) {
      ctx.fillStyle = '#98a2b3';
      ctx.fillText('no worker yet', LABEL, LANE / 2);
    }
    lanes.forEach(function (lane, i) {
      var y = i * LANE;
      ctx.fillStyle = i % 2 ? '#fafbfc' : '#f2f4f7';
      ctx.fillRect(LABEL, y + 1, plotW, LANE - 2);
      ctx.fillStyle = lane.endedAt === null ? '#344054' : '#98a2b3';
      ctx.textAlign = 'left';
      var label = (manyProcesses ? lane.machine + ':' + processOf(lane).split(':').pop() + ' ' : '') + lane.label;
      ctx.fillText(label, 4, y + LANE / 2, LABEL - 10);
      lane.batches.forEach(function (b) {
        var end = b[0] + b[1];
        if (end < t0) return;
        var x0 = Math.max(LABEL, x(b[0]));
        var w = Math.max(1, x(end) - x0);
        ctx.fillStyle = color(b[4]);
        ctx.fillRect(x0, y + 3, w, LANE - 6);
        if (b[5]) {
          ctx.strokeStyle = '#e03131';
          ctx.lineWidth = 2;
          ctx.strokeRect(x0 + 1, y + 4, Math.max(1, w - 2), LANE - 8);
        }
      });
      if (lane.busySince && lane.endedAt === null) {
        var from = Math.max(t0, lane.busySince);
        ctx.globalAlpha = 0.35;
        ctx.fillStyle = color(s.taskNames.indexOf(lane.task));
        ctx.fillRect(x(from), y + 3, Math.max(1, x(t1) - x(from)), LANE - 6);
        ctx.globalAlpha = 1;
      }
    });
    var yA = Math.max(1, lanes.length) * LANE;
    ctx.strokeStyle = '#d0d5dd';
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(LABEL, yA + 0.5);
    ctx.lineTo(LABEL + plotW, yA + 0.5);
    ctx.stroke();
    var tick = step(span, 8, [500, 1000, 2000, 5000, 10000, 15000, 30000, 60000]);
    ctx.fillStyle = '#667085';
    for (var k = 0; t1 - k * tick >= t0; k++) {
      var xt = x(t1 - k * tick);
      ctx.fillRect(xt - (k === 0 ? 1 : 0), yA, 1, 4);
      ctx.textAlign = k === 0 ? 'right' : 'center';
      ctx.fillText(k === 0 ? 'now' : '-' + ((k * tick) / 1000).toFixed(tick < 1000 ? 1 : 0) + ' s', xt, yA + 13);
    }
    $('stream-note').textContent = 'one lane per worker, one bar per batch · last ' + duration(span);
  }

  /** Lines (and optional fills) over equally spaced points; null values leave gaps. */
  function drawLines(canvas, height, lines, format, bare, seconds) {
    var g = prepare(canvas, height);
    var ctx = g.ctx;
    var L = bare ? 1 : 54, R = bare ? 1 : 8, T = bare ? 2 : 8, B = bare ? 2 : 20;
    var max = 0, n = 0;
    lines.forEach(function (l) {
      n = Math.max(n, l.values.length);
      l.values.forEach(function (v) { if (v !== null && v > max) max = v; });
    });
    if (!bare) max = nice(max || 1);
    else max = max || 1;
    var w = g.w - L - R, h = g.h - T - B;
    function px(i) { return L + (n <= 1 ? w : (i / (n - 1)) * w); }
    function py(v) { return T + h - (v / max) * h; }
    ctx.font = '11px system-ui, sans-serif';
    if (!bare) {
      ctx.strokeStyle = '#eef0f3';
      ctx.fillStyle = '#667085';
      ctx.textAlign = 'right';
      ctx.textBaseline = 'middle';
      for (var k = 0; k <= 4; k++) {
        var v = (max * k) / 4, y = py(v);
        ctx.beginPath();
        ctx.moveTo(L, Math.round(y) + 0.5);
        ctx.lineTo(L + w, Math.round(y) + 0.5);
        ctx.stroke();
        ctx.fillText(format(v), L - 6, y);
      }
      ctx.textBaseline = 'alphabetic';
      var total = seconds || n;
      [[0, 'left', ago(total)], [(n - 1) / 2, 'center', ago(total / 2)], [n - 1, 'right', 'now']].forEach(function (p) {
        ctx.textAlign = p[1];
        ctx.fillText(p[2], px(p[0]), g.h - 5);
      });
    }
    lines.forEach(function (l) {
      ctx.beginPath();
      var open = false, firstX = 0, lastX = 0;
      for (var i = 0; i < l.values.length; i++) {
        var v = l.values[i];
        if (v === null) { open = false; continue; }
        if (!open) { ctx.moveTo(px(i), py(v)); firstX = px(i); open = true; } else ctx.lineTo(px(i), py(v));
        lastX = px(i);
      }
      ctx.strokeStyle = l.stroke;
      ctx.lineWidth = l.width || 1.5;
      ctx.stroke();
      if (l.fill && l.values.length > 1) {
        ctx.lineTo(lastX, py(0));
        ctx.lineTo(firstX, py(0));
        ctx.closePath();
        ctx.fillStyle = l.fill;
        ctx.fill();
      }
    });
  }

  function ago(seconds) { return seconds >= 120 ? '-' + Math.round(seconds / 60) + ' min' : '-' + Math.round(seconds) + ' s'; }

  function nice(v) {
    var p = Math.pow(10, Math.floor(Math.log10(v)));
    var m = v / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  }

  function drawCharts() {
    var s = state;
    if (!s) return;
    var series = s.series;
    var n = series.items.length - 1;
    // From the first second with work (at least the last 30 s, at most the whole window).
    var from = 0;
    while (from < n && series.batches[from] === 0) from++;
    from = Math.max(0, Math.min(from, n - 30));
    var items = series.items.slice(from, n);
    drawLines($('throughput'), 170, [{ values: items, stroke: '#3b5bdb', fill: 'rgba(59,91,219,0.14)', width: 1.8 }], num, false, n - from);
    var mean = [], longest = [];
    for (var i = from; i < n; i++) {
      var b = series.batches[i];
      mean.push(b ? series.durationSum[i] / b : null);
      longest.push(b ? series.durationMax[i] : null);
    }
    drawLines($('latency'), 170, [
      { values: longest, stroke: 'rgba(240,140,0,0.55)', width: 1 },
      { values: mean, stroke: '#e8590c', width: 1.8 },
    ], function (v) { return v === 0 ? '0' : duration(v); }, false, n - from);
    $('throughput-note').textContent = 'items per second, last ' + ago(n - from).slice(1);
    $('latency-note').textContent = 'mean (dark) and longest per second, last ' + ago(n - from).slice(1);
  }

  function drawAll() {
    drawStream();
    drawCharts();
  }

  var lastFrame = 0;
  function frame(t) {
    // The task stream slides with time between states: about ten frames a second is enough.
    if (state && t - lastFrame > 100) {
      lastFrame = t;
      drawStream();
    }
    requestAnimationFrame(frame);
  }
  window.addEventListener('resize', function () { if (state) drawAll(); });
  requestAnimationFrame(frame);
  connect();
})();
`;
