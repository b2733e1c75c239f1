/** shmbus bridge: relay local channels over NATS (src/bridge, docs/bridge.md). */
import { Bridge, type BridgeEvent } from '../../src/bridge/index.js';
import { EXIT, intOption, UsageError, type Command } from '../command.js';
import { interrupted } from '../kind.js';

const list = (v: unknown): string[] => (Array.isArray(v) ? (v as string[]) : []);

export const bridge: Command = {
  name: 'bridge',
  synopsis:
    '[--nats URL] [--topic T]... [--queue Q:in|Q:out]... [--mailbox M]... [--rpc R:in|R:out]... [--host ID] [--prefix P] [--creds FILE] [--tls-ca FILE] ...',
  summary: 'relay channels to a NATS server and back, so that they span hosts (one bridge per host)',
  details: `Relays local channels to NATS subjects and remote ones back into local channels, until Ctrl-C or SIGTERM.
A channel is LOCAL[=REMOTE][:in|:out]: REMOTE is its name on NATS (default LOCAL); in = NATS -> here,
out = here -> NATS (topics and mailboxes: both ways by default; queues and rpcs: say which).
  --nats URL        server URL (default nats://127.0.0.1:4222; repeat for a cluster)
  --topic SPEC      Topic <-> core subject <prefix>.topic.<REMOTE> (lossy; losses counted on the receiving side)
  --queue SPEC      Queue <-> JetStream stream (lossless; :out drains the local queue, :in fills it)
  --mailbox SPEC    Mailbox <-> key <REMOTE> of the key-value bucket (--kv-bucket, default shmbus)
  --rpc SPEC        Rpc <-> request/reply on <prefix>.rpc.<REMOTE> (:in the service runs here, :out its callers do)
  --host ID         this host's id: the origin mark and status name (default: hostname)
  --prefix P        first subject tokens (default shmbus)
  --status NAME     status Mailbox (default shmbus-bridge.<host>; shmbus ls and the viewer show it)
  --status-interval MS  how often the status is rewritten (default 1000)
  --kv-bucket B     key-value bucket of the mailboxes (default shmbus)
  --rpc-timeout MS  time a relayed call may take (default 10000)
  --rpc-max-message-size BYTES  largest relayed request/response (default 4194304)
  --creds FILE      NATS credentials file; --user U --password P; --token T
  --tls             require TLS; --tls-ca FILE, --tls-cert FILE, --tls-key FILE (mutual TLS)
  --json            print events as JSON lines (default: one text line each)`,
  options: {
    nats: { type: 'string', multiple: true },
    topic: { type: 'string', multiple: true },
    queue: { type: 'string', multiple: true },
    mailbox: { type: 'string', multiple: true },
    rpc: { type: 'string', multiple: true },
    host: { type: 'string' },
    prefix: { type: 'string' },
    status: { type: 'string' },
    'status-interval': { type: 'string' },
    'kv-bucket': { type: 'string' },
    'rpc-timeout': { type: 'string' },
    'rpc-max-message-size': { type: 'string' },
    creds: { type: 'string' },
    user: { type: 'string' },
    password: { type: 'string' },
    token: { type: 'string' },
    tls: { type: 'boolean' },
    'tls-ca': { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    json: { type: 'boolean' },
  },
  positionals: [0, 0],
  async run(values) {
    const topics = list(values['topic']);
    const queues = list(values['queue']);
    const mailboxes = list(values['mailbox']);
    const rpcs = list(values['rpc']);
    if (topics.length + queues.length + mailboxes.length + rpcs.length === 0) {
      throw new UsageError('nothing to relay: give at least one --topic, --queue, --mailbox or --rpc');
    }
    const json = values['json'] === true;
    const print = (e: BridgeEvent): void => {
      if (json) process.stdout.write(`${JSON.stringify(e)}\n`);
      else {
        const { event, time, ...rest } = e;
        const fields = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
        process.stdout.write(`${time} ${event}${fields.length ? ` ${fields.join(' ')}` : ''}\n`);
      }
    };
    const tlsFiles = {
      ...(typeof values['tls-ca'] === 'string' && { caFile: values['tls-ca'] }),
      ...(typeof values['tls-cert'] === 'string' && { certFile: values['tls-cert'] }),
      ...(typeof values['tls-key'] === 'string' && { keyFile: values['tls-key'] }),
    };
    const str = (k: string): string | undefined => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
    const stop = interrupted();
    const nats = list(values['nats']);
    const b = await Bridge.start({
      nats: nats.length > 0 ? nats : 'nats://127.0.0.1:4222',
      topics,
      queues,
      mailboxes,
      rpcs,
      ...(str('host') !== undefined && { host: str('host') }),
      ...(str('prefix') !== undefined && { prefix: str('prefix') }),
      ...(str('status') !== undefined && { status: str('status') }),
      ...(values['status-interval'] !== undefined && { statusInterval: intOption(values, 'status-interval', 1000, 1) }),
      ...(str('kv-bucket') !== undefined && { kvBucket: str('kv-bucket') }),
      ...(values['rpc-timeout'] !== undefined && { rpcTimeout: intOption(values, 'rpc-timeout', 10_000, 1) }),
      ...(values['rpc-max-message-size'] !== undefined && { rpcMaxMessageSize: intOption(values, 'rpc-max-message-size', 4 << 20, 1) }),
      ...(str('creds') !== undefined && { credentials: str('creds') }),
      ...(str('user') !== undefined && { user: str('user') }),
      ...(str('password') !== undefined && { pass: str('password') }),
      ...(str('token') !== undefined && { token: str('token') }),
      ...((values['tls'] === true || Object.keys(tlsFiles).length > 0) && { tls: Object.keys(tlsFiles).length > 0 ? tlsFiles : true }),
      onEvent: print,
    });
    await stop.promise;
    stop.dispose();
    await b.close();
    return EXIT.ok;
  },
};
