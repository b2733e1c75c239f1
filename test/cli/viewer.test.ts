/**
 * shmbus view in a real browser: Debian's chromium (scripts/ci-deps.sh installs it) driven headless by
 * playwright-core. The page lists a known topic; a Frame topic is drawn on a canvas whose pixels (read back from a
 * screenshot) are the frame's; a topic's rate changes while a publisher runs; a wrong token is refused (HTTP 403,
 * WebSocket refused). SHMBUS_VIEWER_SCREENSHOT=path also saves a screenshot of the page (docs/viewer.png).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import WebSocket from 'ws';
import { expectCleanExit, spawnPeer, trackNames, type Peer } from '../helpers/index.js';
import { bin, pattern, peerFile } from './lib.js';
import { decodePng } from './png.js';

const names = trackNames();
after(names.cleanup);
const chromiumPath = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));

async function ask(p: Peer, cmd: string, answer: RegExp | string): Promise<string> {
  p.send(cmd);
  return p.line(answer);
}

/** Resolves with the HTTP status a WebSocket handshake got (101 when it opened). */
function wsStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.on('open', () => {
      ws.close();
      resolve(101);
    });
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on('error', () => resolve(0));
  });
}

describe('shmbus view', { skip: chromiumPath ? false : 'chromium is not installed (scripts/ci-deps.sh installs it)' }, () => {
  it('lists a topic, draws its frames on a canvas, shows rates changing, and refuses a wrong token', async () => {
    const { chromium } = await import('playwright-core');
    const [frames, text, mb, q] = ['view-frames', 'view-text', 'view-mb', 'view-q'].map((p) => names.name(p)) as [string, string, string, string];
    const peer = spawnPeer(peerFile);
    const pub2 = spawnPeer(peerFile);
    await peer.line('ready');
    await pub2.line('ready');
    await ask(peer, `topic ${frames} 262144`, 'created');
    await ask(peer, 'frame 40 30 BGR 5', 'published 1');
    await ask(pub2, `topic ${text} 65536`, 'created');
    await ask(pub2, `mailbox ${mb}`, 'created');
    await ask(pub2, 'write {"exposure":12,"mode":"auto"}', 'version 1');
    await ask(pub2, `queue ${q}`, 'created');
    await ask(pub2, 'send job-1', 'sent');

    const viewer = spawnPeer(bin, ['view', '--port', '0', '--interval', '200']);
    const url = (await viewer.line(/open http/)).replace(/^.*open /, '').trim();
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]{32}$/);
    const base = url.replace(/\?.*$/, '');
    const live = url.replace('http:', 'ws:').replace('/?', '/live?');
    const browser = await chromium.launch({ executablePath: chromiumPath!, args: ['--no-sandbox', '--disable-gpu', '--force-color-profile=srgb'] });
    try {
      // Wrong or missing token: 403 for pages and assets, the WebSocket handshake refused.
      assert.equal((await fetch(base)).status, 403);
      assert.equal((await fetch(`${base}?token=${'0'.repeat(32)}`)).status, 403);
      assert.equal((await fetch(`${base}app.js`)).status, 403);
      assert.equal(await wsStatus(live.replace(/token=\w+/, 'token=wrong')), 403);
      assert.equal(await wsStatus(live.replace(/\?token=\w+/, '')), 403);
      assert.equal(await wsStatus(live), 101, 'the right token opens it');
      // Bound to 127.0.0.1 only: the machine's other addresses do not answer on that port.
      const port = new URL(url).port;
      for (const ip of Object.values(networkInterfaces()).flat().filter((i) => i && i.family === 'IPv4' && !i.internal)) {
        await assert.rejects(fetch(`http://${ip!.address}:${port}/?token=x`), `${ip!.address} must not answer`);
      }

      const page = await (await browser.newContext({ deviceScaleFactor: 1, viewport: { width: 1280, height: 900 } })).newPage();
      const refused = await page.goto(`${base}?token=bad`);
      assert.equal(refused?.status(), 403);
      await page.goto(url);
      await page.locator(`#segments tr[data-name="${text}"]`).waitFor();
      assert.equal(await page.locator(`#segments tr[data-name="${text}"] td:nth-child(2)`).textContent(), 'topic');

      // The frame, drawn 1:1 on the canvas: every sampled pixel is the frame's (BGR in the frame, RGB on screen).
      await page.locator(`canvas.frame[data-name="${frames}"][data-seq="1"]`).waitFor();
      const canvas = page.locator(`canvas.frame[data-name="${frames}"]`);
      // The page keeps every box on whole pixels, so the canvas's content box is a whole-pixel rectangle. Segments
      // of other processes come and go and move the cards: a shot counts when the canvas had not moved around it.
      const shotOfCanvas = async () => {
        for (;;) {
          const box = await canvas.boundingBox();
          assert.ok(box && Number.isInteger(box.x) && Number.isInteger(box.y), `canvas at ${JSON.stringify(box)}`);
          const clip = { x: box.x + 1, y: box.y + 1, width: 40, height: 30 }; // inside its 1px border
          const png = await page.screenshot({ clip });
          const again = await canvas.boundingBox();
          if (again && again.x === box.x && again.y === box.y) return decodePng(png);
        }
      };
      const shot = await shotOfCanvas();
      assert.equal(shot.width, 40);
      for (const [x, y] of [[0, 0], [39, 0], [0, 29], [39, 29], [17, 11], [5, 23]] as const) {
        const got = shot.pixel(x, y);
        const want = [pattern(x, y, 2, 5), pattern(x, y, 1, 5), pattern(x, y, 0, 5)];
        assert.deepEqual(got.slice(0, 3), want, `pixel ${x},${y}`);
      }
      // A new frame replaces it (video): seq 2 is drawn with another pattern.
      await ask(peer, 'frame 40 30 BGR 77', 'published 2');
      await page.locator(`canvas.frame[data-name="${frames}"][data-seq="2"]`).waitFor();
      const shot2 = await shotOfCanvas();
      assert.deepEqual(shot2.pixel(10, 7).slice(0, 3), [pattern(10, 7, 2, 77), pattern(10, 7, 1, 77), pattern(10, 7, 0, 77)]);

      // Rates: 0 while idle, > 0 while a publisher runs, back to 0 after it stops.
      const rateOf = `(name) => Number(document.querySelector('#segments tr[data-name="' + name + '"]')?.dataset.rate || 0)`;
      await page.waitForFunction(`(${rateOf})(${JSON.stringify(text)}) === 0`);
      await ask(pub2, 'stream 3', 'streaming');
      await page.waitForFunction(`(${rateOf})(${JSON.stringify(text)}) > 0`);
      await page.locator(`.card[data-name="${mb}"] pre`).filter({ hasText: '"exposure": 12' }).waitFor();
      await page.locator(`.card[data-name="${q}"]`).waitFor();
      if (process.env['SHMBUS_VIEWER_SCREENSHOT']) {
        await page.waitForTimeout(3000); // let the charts fill for the picture (not a synchronization)
        await page.screenshot({ path: process.env['SHMBUS_VIEWER_SCREENSHOT'], fullPage: true });
      }
      await ask(pub2, 'stop', 'stopped');
      await page.waitForFunction(`(${rateOf})(${JSON.stringify(text)}) === 0`);
    } finally {
      await browser.close();
      viewer.kill('SIGINT');
      assert.equal(await viewer.exited, 0, viewer.stderr());
      for (const p of [peer, pub2]) {
        p.send('exit');
        await expectCleanExit(p);
      }
    }
  });
});
