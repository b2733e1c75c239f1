// shmbus view: the page. Gets a snapshot of every segment over the WebSocket twice a second and draws tables,
// uPlot charts (rates, latency histogram, queue depth) and Frame topics as video on a canvas. Frames come at the
// browser's pace: after drawing one, the page asks for the next ("ready"); the server sends the newest it has.
'use strict';
const TOKEN = window.SHMBUS_TOKEN;
const HISTORY = 120;
const cards = new Map(); // name -> { el, kind, charts, history }
let bounds = [];

const $ = (tag, attrs = {}, ...kids) => {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const k of kids) el.append(k);
  return el;
};
function size(b) {
  if (b < 1024) return `${b} B`;
  const u = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = b / 1024, i = 0;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(1)} ${u[i]}`;
}
function rate(r) {
  if (r === null || r === undefined) return '-';
  if (r < 1000) return `${r.toFixed(r < 10 ? 1 : 0)}/s`;
  if (r < 1e6) return `${(r / 1e3).toFixed(1)}k/s`;
  return `${(r / 1e6).toFixed(2)}M/s`;
}
function usLabel(us) {
  return us >= 1e6 ? `${us / 1e6}s` : us >= 1e3 ? `${us / 1e3}ms` : `${us}µs`;
}

function lostOf(s) {
  if (s.live?.kind === 'topic') return s.live.subscribers.reduce((a, x) => a + x.lost, 0);
  if (s.live?.kind === 'queue') return s.live.lost + s.live.abandoned;
  return null;
}
function lagOf(s) {
  if (s.live?.kind === 'topic') return Math.max(0, ...s.live.subscribers.map((x) => x.lag));
  if (s.live?.kind === 'queue') return s.live.length;
  return null;
}
function liveText(s) {
  const l = s.live;
  if (s.error) return `error: ${s.error}`;
  if (!l) return '';
  switch (l.kind) {
    case 'topic': return `seq ${l.published}, ${l.publishers.length} pub, ${l.subscribers.length} sub`;
    case 'queue': return `depth ${l.length}/${l.slots}${l.ended ? ', ended' : ''}`;
    case 'mailbox': return `version ${l.version}, ${size(l.length)}`;
    case 'rpc': return `${l.workers.length} workers`;
    case 'mutex': return l.holder ? `held by ${l.holder.pid}${l.holder.alive ? '' : ' (dead)'}` : 'free';
    case 'semaphore': return `value ${l.value}/${l.total}`;
    case 'event': return l.set ? 'set' : 'reset';
    default: return '';
  }
}

function renderTable(msg) {
  const tbody = document.querySelector('#segments tbody');
  tbody.replaceChildren(...msg.segments.map((s) => {
    const tr = $('tr', { 'data-name': s.name, 'data-kind': s.kind, 'data-rate': String(s.rate ?? ''), class: s.state });
    const lost = lostOf(s);
    const lag = lagOf(s);
    tr.append(
      $('td', {}, s.name), $('td', {}, s.kind), $('td', { class: 'num' }, size(s.size)), $('td', {}, s.state),
      $('td', {}, s.pids.join(', ') || '-'), $('td', { class: 'num rate' }, rate(s.rate)),
      $('td', { class: 'num' }, lost === null ? '-' : String(lost)), $('td', { class: 'num' }, lag === null ? '-' : String(lag)),
      $('td', {}, liveText(s)),
    );
    return tr;
  }));
  const total = msg.segments.reduce((a, s) => a + s.size, 0);
  const stale = msg.segments.filter((s) => s.state === 'stale').length;
  document.getElementById('totals').textContent = `${msg.segments.length} segments, ${size(total)}; ${stale} stale`;
}

function lineChart(title, label, color) {
  const el = $('div');
  const chart = new uPlot({
    width: 320, height: 110, legend: { show: false }, cursor: { show: false },
    scales: { x: { time: true } },
    series: [{}, { label, stroke: color, fill: `${color}22`, width: 1.5 }],
    axes: [{ space: 60 }, { size: 50 }],
  }, [[], []], el);
  return { el: $('div', {}, $('p', { class: 'chart-title' }, title), el), chart };
}

function histogramChart() {
  const el = $('div');
  const chart = new uPlot({
    width: 320, height: 110, legend: { show: false }, cursor: { show: false },
    scales: { x: { time: false } },
    series: [{}, { label: 'messages', stroke: '#7b5cd6', fill: '#7b5cd655', paths: uPlot.paths.bars({ size: [0.8] }) }],
    axes: [{ values: (u, vals) => vals.map((v) => (Number.isInteger(v) ? usLabel(bounds[v] ?? bounds[bounds.length - 1] * 10) : '')), space: 40 }, { size: 50 }],
  }, [[], []], el);
  return { el: $('div', {}, $('p', { class: 'chart-title' }, 'latency, publish to viewer, last 5 s'), el), chart };
}

function push(h, t, v) {
  h[0].push(t); h[1].push(v);
  if (h[0].length > HISTORY) { h[0].shift(); h[1].shift(); }
}

function card(s, ws) {
  let c = cards.get(s.name);
  // Stale channels (creator dead, nobody attached) stay in the table only: nothing moves in them.
  if (s.state === 'stale') {
    if (c) { c.el.remove(); cards.delete(s.name); }
    return null;
  }
  if (c && c.kind === s.kind) return c;
  if (c) c.el.remove();
  const el = $('div', { class: 'card', 'data-name': s.name }, $('h3', {}, `${s.name} `, $('span', { class: 'kind' }, s.kind)));
  c = { el, kind: s.kind, charts: {}, history: [[], []], hist: [], body: $('div') };
  if (s.kind === 'topic') {
    c.charts.rate = lineChart('messages / s', 'rate', '#2b7be4');
    c.charts.lat = histogramChart();
    c.subs = $('table', { class: 'subs' });
    el.append(c.charts.rate.el, c.charts.lat.el, $('p', { class: 'chart-title' }, 'subscribers'), c.subs);
  } else if (s.kind === 'queue') {
    c.charts.depth = lineChart('depth (messages waiting)', 'depth', '#e4862b');
    c.charts.rate = lineChart('messages / s', 'rate', '#2b7be4');
    el.append(c.charts.depth.el, c.charts.rate.el);
    c.depth = [[], []];
  } else if (s.kind === 'mailbox') {
    c.value = $('pre', { class: 'value' });
    el.append($('p', { class: 'chart-title' }, 'value'), c.value);
  } else {
    return null;
  }
  el.append(c.body);
  document.getElementById('channels').append(el);
  cards.set(s.name, c);
  return c;
}

function update(msg, ws) {
  bounds = msg.latencyBoundsUs;
  renderTable(msg);
  const t = Date.now() / 1000;
  const present = new Set(msg.segments.map((s) => s.name));
  for (const [name, c] of cards) if (!present.has(name)) { c.el.remove(); cards.delete(name); }
  for (const s of msg.segments) {
    const c = card(s, ws);
    if (!c || s.error || !s.live) continue;
    if (s.kind === 'topic') {
      push(c.history, t, s.rate ?? 0);
      c.charts.rate.chart.setData(c.history);
      const h = s.viewer?.histogram ?? [];
      // Show the last ~5 s: the difference with the histogram of 10 snapshots ago.
      c.hist.push(h.slice());
      if (c.hist.length > 10) c.hist.shift();
      const old = c.hist[0];
      const recent = h.map((v, i) => v - (c.hist.length > 1 ? old[i] ?? 0 : 0));
      c.charts.lat.chart.setData([recent.map((_, i) => i), recent]);
      c.subs.replaceChildren($('tr', {}, $('th', {}, 'pid'), $('th', {}, 'lag'), $('th', {}, 'lost')),
        ...s.live.subscribers.map((x) => $('tr', {}, $('td', {}, `${x.pid}${x.pid === msg.viewerPid ? ' (viewer)' : ''}${x.alive ? '' : ' (dead)'}`), $('td', { class: 'num' }, String(x.lag)), $('td', { class: 'num' }, String(x.lost)))));
      if (s.viewer?.frames && !c.canvas) {
        c.canvas = $('canvas', { class: 'frame', 'data-name': s.name });
        c.frameInfo = $('p', { class: 'chart-title' }, 'video');
        c.el.insertBefore(c.frameInfo, c.el.children[1]);
        c.el.insertBefore(c.canvas, c.el.children[2]);
        ws.send(JSON.stringify({ type: 'ready', name: s.name }));
      }
    } else if (s.kind === 'queue') {
      push(c.depth, t, s.live.length);
      c.charts.depth.chart.setData(c.depth);
      push(c.history, t, s.rate ?? 0);
      c.charts.rate.chart.setData(c.history);
    } else if (s.kind === 'mailbox') {
      let text = s.viewer?.value ?? '';
      try { text = JSON.stringify(JSON.parse(text), null, 2); } catch { /* shown as text */ }
      c.value.textContent = `v${s.live.version}: ${text}${s.viewer?.truncated ? '\n…' : ''}`;
    }
  }
}

// A binary message: u32 name length, u32 seq, the name, then the Frame (PROTOCOL.md §9).
function drawFrame(buf, ws) {
  const dv = new DataView(buf);
  const nameLen = dv.getUint32(0, true);
  const seq = dv.getUint32(4, true);
  const name = new TextDecoder().decode(new Uint8Array(buf, 8, nameLen));
  const off = 8 + nameLen;
  const c = cards.get(name);
  if (!c || !c.canvas) return;
  const f = new DataView(buf, off);
  const width = f.getUint32(8, true), height = f.getUint32(12, true), channels = f.getUint32(16, true);
  const dtype = f.getUint16(20, true), format = f.getUint16(22, true), stride = f.getUint32(24, true);
  const headerSize = f.getUint16(6, true);
  const bps = dtype === 1 ? 1 : dtype === 2 ? 2 : 4;
  const data = new DataView(buf, off + headerSize);
  const sample = dtype === 1 ? (o) => data.getUint8(o) : dtype === 2 ? (o) => data.getUint16(o, true) >> 8 : (o) => Math.max(0, Math.min(255, Math.round(data.getFloat32(o, true) * 255)));
  // Channel order per format (1 GRAY, 2 RGB, 3 BGR, 4 RGBA, 5 BGRA): where r, g, b, a sit in a pixel.
  const order = { 1: [0, 0, 0, -1], 2: [0, 1, 2, -1], 3: [2, 1, 0, -1], 4: [0, 1, 2, 3], 5: [2, 1, 0, 3] }[format];
  if (c.canvas.width !== width) c.canvas.width = width;
  if (c.canvas.height !== height) c.canvas.height = height;
  const ctx = c.canvas.getContext('2d');
  const img = ctx.createImageData(width, height);
  const px = img.data;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = y * stride + x * channels * bps;
      const i = (y * width + x) * 4;
      px[i] = sample(o + order[0] * bps);
      px[i + 1] = sample(o + order[1] * bps);
      px[i + 2] = sample(o + order[2] * bps);
      px[i + 3] = order[3] < 0 ? 255 : sample(o + order[3] * bps);
    }
  }
  ctx.putImageData(img, 0, 0);
  c.canvas.dataset.seq = String(seq);
  c.frameInfo.textContent = `video: frame #${seq}, ${width}x${height}`;
  // At the browser's pace: the next frame once this one is on screen.
  requestAnimationFrame(() => ws.send(JSON.stringify({ type: 'ready', name })));
}

function connect() {
  const ws = new WebSocket(`ws://${location.host}/live?token=${TOKEN}`);
  ws.binaryType = 'arraybuffer';
  const status = document.getElementById('status');
  ws.onopen = () => { status.textContent = 'live'; status.className = 'live'; };
  ws.onmessage = (e) => {
    if (typeof e.data === 'string') {
      const msg = JSON.parse(e.data);
      if (msg.type === 'segments') {
        document.getElementById('clock').textContent = msg.time;
        update(msg, ws);
      }
    } else drawFrame(e.data, ws);
  };
  ws.onclose = () => {
    status.textContent = 'disconnected (retrying)'; status.className = 'down';
    for (const c of cards.values()) c.el.remove();
    cards.clear();
    setTimeout(connect, 1000);
  };
}
connect();
