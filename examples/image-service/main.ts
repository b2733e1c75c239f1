/**
 * The seed-001 scenario: process 1 asks process 2 to process an image and waits for the answer. The server converts
 * 1280x720 RGB images to grayscale with two concurrent workers; the client sends images through Rpc and gets the
 * gray images back (2.7 MB in, 0.9 MB out, no sockets). Run: node dist/examples/image-service/main.js
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Rpc, isShmbusError } from '../../src/index.js';

const WIDTH = 1280;
const HEIGHT = 720;

async function server(name: string): Promise<void> {
  const service = Rpc.serve(
    name,
    (req) => {
      const rgb = req.data;
      if (rgb.length !== WIDTH * HEIGHT * 3) throw new Error(`expected a ${WIDTH}x${HEIGHT} RGB image, got ${rgb.length} bytes`);
      const gray = new Uint8Array(WIDTH * HEIGHT);
      for (let i = 0, j = 0; i < gray.length; i++, j += 3) {
        gray[i] = (77 * rgb[j]! + 150 * rgb[j + 1]! + 29 * rgb[j + 2]!) >> 8;
      }
      return gray;
    },
    { workers: 2, maxMessageSize: 3 << 20, slots: 4 }, // requests up to 3 MiB, 12 MiB of /dev/shm
  );
  console.log(`server ${process.pid}: serving "${name}" with 2 workers`);
  process.send!('ready');
  process.once('message', async () => {
    await service.close();
    const { served, failed } = service.stats();
    console.log(`server: stopped after ${served} requests (${failed} failed)`);
    process.exit(0);
  });
}

async function client(): Promise<void> {
  const name = `image-${process.pid}`;
  const noServer = Rpc.connect(name);
  try {
    await noServer.request('hello', { timeout: 5000 });
  } catch (e) {
    if (!isShmbusError(e, 'ERR_NO_SERVER')) throw e;
    console.log('client: before the server starts, a request fails at once with ERR_NO_SERVER');
  }
  noServer.close();

  const kid = fork(fileURLToPath(import.meta.url), ['server', name]);
  await new Promise((r) => kid.once('message', r));
  const client = Rpc.connect(name, { slots: 2 });
  const image = new Uint8Array(WIDTH * HEIGHT * 3);
  for (let i = 0; i < image.length; i += 3) [image[i], image[i + 1], image[i + 2]] = [200, 100, 50];
  const times: number[] = [];
  let gray: Uint8Array = new Uint8Array(0);
  for (let i = 0; i < 20; i++) {
    const t0 = performance.now();
    gray = (await client.request(image, { timeout: 5000 })).data;
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  console.log(`client: sent ${image.length} bytes of RGB, got ${gray.length} bytes of gray; pixel 0 = ${gray[0]}`);
  console.log(`client: 20 round trips, median ${times[10]!.toFixed(2)} ms (copy in, convert, copy back)`);
  try {
    await client.request(new Uint8Array(10), { timeout: 5000 });
  } catch (e) {
    if (!isShmbusError(e, 'ERR_REMOTE')) throw e;
    console.log(`client: a bad image gives ERR_REMOTE: ${e.message}`);
  }
  const again = await client.request(image, { timeout: 5000 });
  console.log(`client: the server kept serving: got ${again.data.length} bytes`);
  client.close();
  const exited = new Promise((r) => kid.once('exit', r));
  kid.send('stop');
  await exited;
}

if (process.argv[2] === 'server') await server(process.argv[3]!);
else await client();
