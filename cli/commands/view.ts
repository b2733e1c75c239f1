/** view: the live web viewer (cli/view/server.ts) on 127.0.0.1. */
import { EXIT, UsageError, intOption, type Command } from '../command.js';
import { interrupted } from '../kind.js';
import { startViewer } from '../view/server.js';

export const view: Command = {
  name: 'view',
  synopsis: '[--port N] [--interval MS]',
  summary: 'serve a live web view of the bus on 127.0.0.1 (segments, rates, lag, latency, Frame video)',
  details: `Serves a page on 127.0.0.1 only (never another interface) at a URL with a random token: open the
printed URL. Requests without that token get 403 and WebSocket connections are refused, so other local users
cannot read your channels through the viewer. The page lists every segment live: rates, lost counts, subscriber
lag, a latency histogram per topic, topics carrying Frames as live video, Mailbox values, Queue depth over time.
The viewer reads each topic as one more subscriber that may be lapped: it never slows publishers.
  --port N       TCP port (default 0: a free port)
  --interval MS  how often the page is updated (default 500)
Stops on Ctrl-C.`,
  options: { port: { type: 'string' }, interval: { type: 'string' } },
  positionals: [0, 0],
  async run(values) {
    const port = intOption(values, 'port', 0);
    if (port > 65535) throw new UsageError('--port must be 0..65535');
    const v = await startViewer({ port, interval: intOption(values, 'interval', 500, 50) });
    process.stdout.write(`shmbus view: open ${v.url}\n`);
    const stop = interrupted();
    await stop.promise;
    stop.dispose();
    await v.close();
    return EXIT.ok;
  },
};
