/**
 * An image-service client in Node (client.py and client.cpp are the same client in Python and C++). It sends test
 * images (RGB) with parameters as Parts records over Rpc, until "stop" (or the end of input) on stdin, cycling
 * through gray, resize to half, resize to an odd size, and one unknown op (which the service refuses with status
 * 1). Every answer is checked pixel by pixel against the same operation computed here, in plain loops. When the
 * service is gone (killed, restarting) a request fails at once with ERR_NO_SERVER (or within the liveness interval
 * when the service dies holding it); the client then retries the same request until the service is back.
 * The answer is read in place in this client's response slot (zero-copy response, `copy: false`).
 * Run by hand (with a service running): node dist/examples/image-service/client.js [name] [id]
 */
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { Frame, Parts, Rpc, isShmbusError, type FrameFormat } from '../../src/index.js';

const name = process.argv[2] ?? 'image-service';
const who = `${process.argv[3] ?? `node-${process.pid}`} (node)`;
const [WIDTH, HEIGHT, FORMAT] = [512, 384, 'RGB' as FrameFormat];
const CHANNELS = 3;
type Params = { op: 'gray' } | { op: 'resize'; width: number; height: number } | { op: 'sharpen' };
const OPS: Params[] = [
  { op: 'gray' },
  { op: 'resize', width: WIDTH / 2, height: HEIGHT / 2 },
  { op: 'resize', width: 301, height: 97 },
  { op: 'sharpen' },
];
const RETRY_FOR_MS = 30_000; // how long a request may wait for the service to come back before the client gives up

/** The test image, as imageops.py defines it: sample (x, y, c) = (x(c+1) + 2y(3-c) + 31 seed + 85c) & 255. */
function pattern(seed: number): Uint8Array {
  const img = new Uint8Array(WIDTH * HEIGHT * CHANNELS);
  for (let y = 0, i = 0; y < HEIGHT; y++) {
    for (let x = 0; x < WIDTH; x++) {
      for (let c = 0; c < CHANNELS; c++) img[i++] = (x * (c + 1) + 2 * y * (3 - c) + 31 * seed + 85 * c) & 255;
    }
  }
  return img;
}

/** What the service must answer, computed here: gray (77R + 150G + 29B + 128) >> 8, or nearest-neighbour resize. */
function expected(img: Uint8Array, p: Params): { width: number; height: number; format: FrameFormat; data: Uint8Array } | null {
  if (p.op === 'gray') {
    const out = new Uint8Array(WIDTH * HEIGHT);
    for (let i = 0, j = 0; i < out.length; i++, j += CHANNELS) out[i] = (77 * img[j]! + 150 * img[j + 1]! + 29 * img[j + 2]! + 128) >> 8;
    return { width: WIDTH, height: HEIGHT, format: 'GRAY', data: out };
  }
  if (p.op === 'resize') {
    const out = new Uint8Array(p.width * p.height * CHANNELS);
    for (let y = 0, o = 0; y < p.height; y++) {
      const sy = Math.floor((y * HEIGHT) / p.height);
      for (let x = 0; x < p.width; x++) {
        const s = (sy * WIDTH + Math.floor((x * WIDTH) / p.width)) * CHANNELS;
        for (let c = 0; c < CHANNELS; c++) out[o++] = img[s + c]!;
      }
    }
    return { width: p.width, height: p.height, format: FORMAT, data: out };
  }
  return null;
}

let stop = false;
const input = createInterface({ input: process.stdin })
  .on('line', (l) => {
    if (l.trim() === 'stop') input.close(); // (an open stdin would keep the process alive)
  })
  .once('close', () => (stop = true));

const client = Rpc.connect(name, { maxMessageSize: 1 << 20, slots: 2 });
console.log(`${who}: sending ${WIDTH}x${HEIGHT} ${FORMAT} images to "${name}"`);
const servers = new Map<string, number>();
let [checked, refused, retries, badSamples, i] = [0, 0, 0, 0, 0];
for (; !stop; i++) {
  const params = OPS[i % OPS.length]!;
  const img = pattern(i);
  const record = { image: Frame.encode({ width: WIDTH, height: HEIGHT, format: FORMAT, data: img }), params };
  const size = Parts.byteLength(record);
  const giveUp = Date.now() + RETRY_FOR_MS;
  let outage = false;
  let res;
  for (;;) {
    try {
      // The request is encoded straight into its slot of the service's queue (a loan: no intermediate buffer), and
      // copy: false reads the answer in place in this client's response slot until res.release().
      const loan = await client.loan(size, { timeout: 10_000 });
      Parts.encodeInto(loan.bytes, record);
      res = await loan.commit(size, { timeout: 10_000, copy: false });
      break;
    } catch (e) {
      if (!isShmbusError(e, 'ERR_NO_SERVER') || Date.now() > giveUp) throw e;
      if (!outage) console.log(`${who}: #${i} ERR_NO_SERVER (the service is down), retrying`);
      outage = true;
      retries++;
      await sleep(20); // a retry policy, not synchronisation: the service may take a while to come back
    }
  }
  const parts = Parts.decode(res.data); // views into the response slot, as is the frame below
  const status = Number(parts['status']); // an int64 from Python (a bigint here), a number from C++
  const server = String(parts['server']);
  servers.set(server, (servers.get(server) ?? 0) + 1);
  if (outage) console.log(`${who}: #${i} the service is back (${server})`);
  const want = expected(img, params);
  if (want === null) {
    if (status !== 1) throw new Error(`${who}: #${i} ${params.op} should have been refused, got status ${status}`);
    refused++;
    console.log(`${who}: #${i} ${params.op} refused by ${server}: ${String(parts['message'])}`);
    res.release();
    continue;
  }
  if (status !== 0) throw new Error(`${who}: #${i} ${params.op} failed: status ${status}: ${String(parts['message'])}`);
  const got = Frame.decode(parts['image'] as Uint8Array); // a view into the response slot: no copy
  if (got.format !== want.format || got.width !== want.width || got.height !== want.height) {
    throw new Error(`${who}: #${i} got a ${got.width}x${got.height} ${got.format} frame, wanted ${want.width}x${want.height} ${want.format}`);
  }
  const rowBytes = want.data.length / want.height;
  let wrong = 0;
  for (let y = 0; y < want.height; y++) {
    for (let k = 0; k < rowBytes; k++) if (got.bytes[y * got.stride + k] !== want.data[y * rowBytes + k]) wrong++;
  }
  res.release(); // the slot goes back to the queue (the next request would release it too)
  badSamples += wrong;
  checked++;
  console.log(`${who}: #${i} ${params.op} -> ${got.width}x${got.height} ${got.format} by ${server}: ${wrong === 0 ? 'pixels match' : `${wrong} samples differ`}`);
}
client.close();
const by = [...servers].sort().map(([s, n]) => `${s}: ${n}`).join(', ');
console.log(
  `${who}: done: ${i} answered (${by}), ${checked} images checked pixel by pixel, ${badSamples} samples differ, ` +
    `${refused} refused with status 1, ${retries} retries after ERR_NO_SERVER`,
);
