/**
 * shmbus view: an HTTP + WebSocket server on 127.0.0.1 that shows the bus live in a browser. Every request needs
 * the random token printed in the URL (other local users must not read your channels through it): without it,
 * HTTP answers 403 and the WebSocket handshake is refused. The page gets a snapshot of every segment twice a
 * second; a topic carrying Frames is sent as video at the browser's pace (the browser asks for the next frame
 * after drawing one; the server sends the newest it has). The viewer reads topics as one more subscriber that
 * may be lapped: it never slows publishers or other subscribers.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocketServer, type WebSocket } from 'ws';
import { Frame, Mailbox, Segment, Topic, type Message, type Subscriber } from '../../src/index.js';
import { date } from '../format.js';
import { mappers } from '../procmaps.js';
import { counter, probe, ratePerSecond, type Probe } from '../probe.js';

const staticDir = fileURLToPath(new URL('../../../cli/view/static/', import.meta.url));
const uplotDir = join(dirname(createRequire(import.meta.url).resolve('uplot')), '');

/** Latency histogram buckets (upper bounds in µs): 1, 2, 5, 10, ... 1 s, and above. */
export const LATENCY_BOUNDS_US = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6];
/** Most messages the viewer reads from one topic per tick; beyond, the ring laps it (counted as its lost). */
const READ_BUDGET = 50_000;

interface Watched {
  name: string;
  sub: Subscriber;
  histogram: number[];
  /** The newest message read: a view into the ring (copy: false), checked with valid() when copied. */
  last: Message | null;
  /** Seq of the newest frame sent to a page. */
  frameSeq: number;
  isFrames: boolean;
}

export interface ViewOptions {
  port: number;
  /** Snapshot period in ms (default 500). */
  interval?: number;
}

export interface Viewer {
  url: string;
  port: number;
  token: string;
  close(): Promise<void>;
}

function tokenOk(got: string | null, token: string): boolean {
  if (got === null || got.length !== token.length) return false;
  return timingSafeEqual(Buffer.from(got), Buffer.from(token));
}

export async function startViewer(options: ViewOptions): Promise<Viewer> {
  const token = randomBytes(16).toString('hex');
  const interval = options.interval ?? 500;
  const topics = new Map<string, Watched>();
  const mailboxes = new Map<string, { mb: Mailbox; version: number; value: string }>();
  const clients = new Set<WebSocket>();
  /** Per client: topics whose frames it asked for and is ready to draw. */
  const wants = new Map<WebSocket, Set<string>>();
  const sentSeq = new Map<WebSocket, Map<string, number>>();
  let previous = new Map<string, { counter: number | null; at: number }>();

  const page = (): string =>
    readFileSync(join(staticDir, 'index.html'), 'utf8').replaceAll('__TOKEN__', token);

  const allowedHost = (req: IncomingMessage, port: number): boolean =>
    req.headers.host === `127.0.0.1:${port}` || req.headers.host === `localhost:${port}`;

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    // DNS rebinding: only our own host name; and every request carries the token.
    if (!allowedHost(req, port) || !tokenOk(url.searchParams.get('token'), token)) {
      res.writeHead(403, { 'content-type': 'text/plain' }).end('403: a valid token is needed (use the URL shmbus view printed)\n');
      return;
    }
    const files: Record<string, [string, string]> = {
      '/': [join(staticDir, 'index.html'), 'text/html; charset=utf-8'],
      '/app.js': [join(staticDir, 'app.js'), 'text/javascript; charset=utf-8'],
      '/style.css': [join(staticDir, 'style.css'), 'text/css; charset=utf-8'],
      '/uplot.js': [join(uplotDir, 'uPlot.iife.min.js'), 'text/javascript; charset=utf-8'],
      '/uplot.css': [join(uplotDir, 'uPlot.min.css'), 'text/css; charset=utf-8'],
    };
    const f = files[url.pathname];
    if (!f) {
      res.writeHead(404).end();
      return;
    }
    const body = url.pathname === '/' ? page() : readFileSync(f[0]);
    res.writeHead(200, { 'content-type': f[1], 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' }).end(body);
  });
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (!allowedHost(req, port) || url.pathname !== '/live' || !tokenOk(url.searchParams.get('token'), token)) {
      socket.end('HTTP/1.1 403 Forbidden\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      clients.add(ws);
      wants.set(ws, new Set());
      sentSeq.set(ws, new Map());
      ws.on('message', (raw) => {
        let msg: { type?: string; name?: string };
        try {
          msg = JSON.parse(String(raw)) as typeof msg;
        } catch {
          return;
        }
        // "ready": the page drew its last frame of this topic and takes the next one.
        if (msg.type === 'ready' && typeof msg.name === 'string' && topics.has(msg.name)) {
          wants.get(ws)!.add(msg.name);
          sendFrame(ws, msg.name);
        }
      });
      ws.on('close', () => {
        clients.delete(ws);
        wants.delete(ws);
        sentSeq.delete(ws);
      });
      ws.send(JSON.stringify(snapshot()));
    });
  });

  /** Sends the newest frame of `name` if this client wants one and has not seen it (copied out of the ring now). */
  function sendFrame(ws: WebSocket, name: string): void {
    const w = topics.get(name);
    const last = w?.last;
    const seen = sentSeq.get(ws)?.get(name) ?? 0;
    if (!w || !last || last.seq === seen || !wants.get(ws)?.has(name)) return;
    const copy = last.data.slice();
    // Overwritten during the copy: the next message will be sent instead.
    if (!last.valid()) return;
    try {
      Frame.decode(copy);
    } catch {
      return;
    }
    wants.get(ws)!.delete(name);
    sentSeq.get(ws)!.set(name, last.seq);
    w.frameSeq = last.seq;
    const nameBytes = Buffer.from(name);
    const head = Buffer.alloc(8);
    head.writeUInt32LE(nameBytes.length, 0);
    head.writeUInt32LE(last.seq >>> 0, 4);
    ws.send(Buffer.concat([head, nameBytes, copy]), { binary: true });
  }

  /** Wall-clock ms with µs resolution, comparable with a message's commit timestamp. */
  const wallMs = (): number => performance.timeOrigin + performance.now();

  /** Counts one message's latency and remembers it as the newest (a view into the ring, not a copy). */
  function record(w: Watched, m: Message): void {
    if (m.timestamp > 0) {
      const us = Math.max(0, (wallMs() - m.timestamp) * 1000);
      const b = LATENCY_BOUNDS_US.findIndex((x) => us <= x);
      w.histogram[b < 0 ? LATENCY_BOUNDS_US.length : b]!++;
    }
    w.last = m;
  }

  /**
   * Reads one topic for as long as it is watched: parks in read() until a message comes (so latency is the
   * wake-up's, not a polling period's), then drains what is there without waiting (bounded per turn; beyond that
   * the ring laps the viewer, which counts it as its lost). Frames are copied only when a page asks for one.
   */
  async function pump(w: Watched): Promise<void> {
    for (;;) {
      let m: Message | null;
      try {
        m = await w.sub.read({ copy: false });
      } catch {
        return; // closed (the topic went away or the viewer stops), or corrupt
      }
      if (m === null) {
        // End of stream: no publisher now. A new one may come; look again a little later.
        await new Promise((r) => setTimeout(r, 250).unref());
        if (w.sub.closed) return;
        continue;
      }
      record(w, m);
      try {
        for (let i = 0; i < READ_BUDGET; i++) {
          const next = w.sub.tryRead({ copy: false });
          if (next === null) break;
          record(w, next);
        }
        // Does this topic carry frames? Frame.decode on the view checks the header without copying the pixels.
        const last = w.last!;
        try {
          Frame.decode(last.data);
          w.isFrames = true;
        } catch {
          if (last.valid()) w.isFrames = false;
        }
      } catch {
        return;
      }
      for (const ws of clients) if (wants.get(ws)?.has(w.name)) sendFrame(ws, w.name);
      // Let the event loop breathe between turns under a flood of messages.
      await new Promise((r) => setImmediate(r));
    }
  }

  function snapshot(): Record<string, unknown> {
    const now = performance.now();
    const maps = mappers();
    const list = Segment.list();
    const next = new Map<string, { counter: number | null; at: number }>();
    const probes: (Probe & { rate: number | null; viewer?: unknown })[] = list.map((info) => {
      const p = probe(info, maps.get(info.name) ?? []);
      const c = counter(p.live);
      const before = previous.get(p.name);
      next.set(p.name, { counter: c, at: now });
      return { ...p, rate: before ? ratePerSecond(before.counter, c, now - before.at, p.live?.kind === 'queue') : null };
    });
    previous = next;
    const names = new Set(list.map((s) => s.name));
    for (const p of probes) {
      if (p.kind === 'topic' && !p.error && !topics.has(p.name)) {
        try {
          const sub = Topic.subscribe(p.name, { from: 'oldest' });
          const w: Watched = { name: p.name, sub, histogram: new Array(LATENCY_BOUNDS_US.length + 1).fill(0), last: null, frameSeq: 0, isFrames: false };
          topics.set(p.name, w);
          void pump(w);
        } catch {
          // gone meanwhile
        }
      }
      if (p.kind === 'mailbox' && !p.error) {
        try {
          let m = mailboxes.get(p.name);
          if (!m) mailboxes.set(p.name, (m = { mb: Mailbox.open(p.name), version: -1, value: '' }));
          if (m.mb.version !== m.version) {
            const v = m.mb.read();
            m.version = v.version;
            m.value = Buffer.from(v.data.subarray(0, 4096)).toString('utf8');
          }
          p.viewer = { value: m.value, truncated: m.mb.read().data.length > 4096 };
        } catch {
          // gone meanwhile
        }
      }
      const w = topics.get(p.name);
      if (w) p.viewer = { histogram: w.histogram, lost: w.sub.lost, frames: w.isFrames, frameSeq: w.frameSeq, pid: process.pid };
    }
    for (const [name, w] of topics) {
      if (!names.has(name)) {
        w.sub.close();
        topics.delete(name);
      }
    }
    for (const [name, m] of mailboxes) {
      if (!names.has(name)) {
        m.mb.close();
        mailboxes.delete(name);
      }
    }
    return {
      type: 'segments',
      time: date(Date.now()),
      latencyBoundsUs: LATENCY_BOUNDS_US,
      viewerPid: process.pid,
      segments: probes.map((p) => ({ ...p, createdAt: date(p.createdAt) })),
    };
  }

  const snapTimer = setInterval(() => {
    if (clients.size === 0) return;
    const s = JSON.stringify(snapshot());
    for (const ws of clients) ws.send(s);
  }, interval);

  let port = 0;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, '127.0.0.1', () => resolve());
  });
  port = (server.address() as { port: number }).port;
  const url = `http://127.0.0.1:${port}/?token=${token}`;
  return {
    url,
    port,
    token,
    async close() {
      clearInterval(snapTimer);
      for (const ws of clients) ws.terminate();
      wss.close();
      for (const w of topics.values()) w.sub.close();
      for (const m of mailboxes.values()) m.mb.close();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
