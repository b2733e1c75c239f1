/**
 * A scriptable process for the CLI and viewer tests: holds channels open while the real `shmbus` bin looks at
 * them. One command per stdin line, one answer line on stdout.
 *   segment NAME SIZE            create a raw segment
 *   topic NAME CAPACITY          create a topic (this process publishes)
 *   publish TEXT                 publish one text message        -> "published SEQ"
 *   burst N                      publish N messages "m<i>"        -> "published SEQ"
 *   stream MS                    publish one message every MS ms until "stop"
 *   frame W H FORMAT SEED        publish a uint8 frame whose pixel (x, y, c) is (x*7 + y*13 + c*50 + SEED) & 255
 *   subscribe NAME               subscribe and never read (a lagging subscriber)
 *   queue NAME                   create a queue;  send TEXT
 *   mailbox NAME                 create a mailbox; write TEXT
 *   mutex NAME                   create a mutex and hold it
 *   close                        close every handle (the names stay)
 *   exit
 * Errors: "error CODE".
 */
import { Mailbox, Mutex, Queue, Segment, Topic, isShmbusError, type Subscriber } from '../../src/index.js';
import { onLines, say } from '../fixtures/lib.js';
import { pattern } from './lib.js';
import { Frame, type FrameFormat } from '../../src/codecs/frame.js';

const open: { close(): void }[] = [];
let topic: Topic | undefined;
let queue: Queue | undefined;
let mailbox: Mailbox | undefined;
let stream: NodeJS.Timeout | undefined;
const need = <T>(x: T | undefined): T => {
  if (x === undefined) throw new Error('not created yet');
  return x;
};


say(`ready ${process.pid}`);
onLines(async (line) => {
  const [cmd, ...a] = line.trim().split(/\s+/);
  const rest = line.trim().slice((cmd ?? '').length + 1);
  try {
    switch (cmd) {
      case 'segment':
        open.push(Segment.create(a[0]!, { size: Number(a[1]) }));
        say('created');
        break;
      case 'topic':
        topic = Topic.create(a[0]!, { capacity: Number(a[1]) });
        open.push(topic);
        say('created');
        break;
      case 'publish':
        say(`published ${need(topic).publish(rest)}`);
        break;
      case 'burst': {
        let seq = 0;
        for (let i = 0; i < Number(a[0]); i++) seq = need(topic).publish(`m${i}`);
        say(`published ${seq}`);
        break;
      }
      case 'stream': {
        let i = 0;
        stream = setInterval(() => need(topic).publish(`s${i++}`), Number(a[0]));
        say('streaming');
        break;
      }
      case 'stop':
        clearInterval(stream);
        say('stopped');
        break;
      case 'frame': {
        const [w, h, format, seed] = [Number(a[0]), Number(a[1]), a[2] as FrameFormat, Number(a[3])];
        const channels = Frame.channelsOf(format);
        const data = new Uint8Array(w * h * channels);
        for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < channels; c++) data[(y * w + x) * channels + c] = pattern(x, y, c, seed);
        say(`published ${need(topic).publish(Frame.encode({ width: w, height: h, channels, dtype: 'uint8', format, data, timestamp: Date.now() }))}`);
        break;
      }
      case 'subscribe': {
        const sub: Subscriber = Topic.subscribe(a[0]!);
        open.push(sub);
        await sub.ready;
        say('subscribed');
        break;
      }
      case 'queue':
        queue = Queue.create(a[0]!, { slots: 16, maxMessageSize: 256 });
        open.push(queue);
        say('created');
        break;
      case 'send':
        await need(queue).send(rest);
        say('sent');
        break;
      case 'mailbox':
        mailbox = Mailbox.create(a[0]!, { maxMessageSize: 1024 });
        open.push(mailbox);
        say('created');
        break;
      case 'write':
        say(`version ${need(mailbox).write(rest)}`);
        break;
      case 'mutex': {
        const m = Mutex.create(a[0]!);
        open.push(m);
        m.lockSync();
        say('locked');
        break;
      }
      case 'close':
        clearInterval(stream);
        for (const h of open.splice(0)) h.close();
        say('closed');
        break;
      case 'exit':
        process.exit(0);
    }
  } catch (e) {
    say(`error ${isShmbusError(e) ? e.code : String(e)}`);
  }
});
