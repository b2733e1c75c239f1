/**
 * Real infrastructure for the bridge tests: a nats-server with JetStream (installed by scripts/ci-deps.sh) started
 * on a free port with its store in a temporary directory and stopped by pid, and a second "host" on this machine:
 * a mount namespace with its own tmpfs on /dev/shm (unshare --mount, as root), whose processes are started with
 * nsenter. Where that is not allowed, host B shares /dev/shm and its channel names get a "-b" suffix instead.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnProcess, type Peer } from '../helpers/index.js';

export interface NatsServer {
  url: string;
  port: number;
  pid: number;
  /** Stops the server (SIGTERM, by pid) and waits for it to exit. */
  stop(): Promise<void>;
  /** Stops it and starts it again on the same port and store (JetStream state survives). */
  restart(): Promise<void>;
  /** Stops it and removes its store. */
  dispose(): Promise<void>;
}

/** True when nats-server is installed. */
export function haveNatsServer(): boolean {
  return spawnSync('nats-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

async function launch(conf: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn('nats-server', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const port = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`nats-server did not start within 15 s:\n${log}`)), 15_000);
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      log += d;
      const m = /Listening for client connections on [\d.]+:(\d+)/.exec(log);
      if (m && /Server is ready/.test(log)) {
        clearTimeout(t);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`nats-server exited (${code}):\n${log}`));
    });
  });
  child.stderr!.resume();
  return { child, port };
}

/** Starts nats-server: JetStream on, store in a new temp dir, max_payload 8 MB, a free port on 127.0.0.1. */
export async function startNatsServer(maxPayload = 8 << 20): Promise<NatsServer> {
  const dir = mkdtempSync(join(tmpdir(), 'shmbus-nats-'));
  const conf = (port: number): string => {
    const file = join(dir, 'server.conf');
    writeFileSync(
      file,
      `listen: 127.0.0.1:${port}\nmax_payload: ${maxPayload}\njetstream {\n  store_dir: "${join(dir, 'store')}"\n  max_memory_store: 64MB\n  max_file_store: 1GB\n}\n`,
    );
    return file;
  };
  let { child, port } = await launch(conf(-1));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    process.kill(child.pid!, 'SIGTERM');
    await exited;
  };
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    get pid() {
      return child.pid!;
    },
    stop,
    async restart() {
      await stop();
      ({ child } = await launch(conf(port)));
    },
    async dispose() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface HostB {
  /** True when host B has its own /dev/shm (a mount namespace); false: shared, names suffixed. */
  isolated: boolean;
  /** The name of a channel on host B for a name on host A. */
  name(a: string): string;
  /** Runs a program on host B. */
  spawn(command: string, args: string[], watchdogMs?: number): Peer;
  /** Ends host B (its /dev/shm goes with the namespace). */
  stop(): Promise<void>;
}

/** A second host: a mount namespace with a private /dev/shm when this user may make one. */
export async function startHostB(): Promise<HostB> {
  // SHMBUS_BRIDGE_SHARED_SHM=1 takes the fallback even where unshare works (to test that path).
  const probe =
    process.env['SHMBUS_BRIDGE_SHARED_SHM'] === '1'
      ? null
      : spawnSync('unshare', ['--mount', 'sh', '-c', 'mount -t tmpfs none /dev/shm && echo ok'], { encoding: 'utf8' });
  if (probe?.stdout?.trim() !== 'ok') {
    return {
      isolated: false,
      name: (a) => `${a}-b`,
      spawn: (command, args, watchdogMs) => spawnProcess(command, args, watchdogMs === undefined ? {} : { watchdogMs }),
      async stop() {},
    };
  }
  // The namespace lives as long as this process: unshare execs sh, which execs sleep (one pid throughout).
  const holder = spawn('unshare', ['--mount', 'sh', '-c', 'mount -t tmpfs -o size=1g,mode=1777 shmbus-host-b /dev/shm && echo ready && exec sleep 3600'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    holder.stdout!.setEncoding('utf8').once('data', (d: string) => (d.includes('ready') ? resolve() : reject(new Error(`host B: ${d}`))));
    holder.once('exit', (code) => reject(new Error(`host B namespace exited (${code})`)));
  });
  const pid = holder.pid!;
  return {
    isolated: true,
    name: (a) => a,
    spawn: (command, args, watchdogMs) =>
      spawnProcess('nsenter', ['-t', String(pid), '-m', '--', command, ...args], watchdogMs === undefined ? {} : { watchdogMs }),
    async stop() {
      if (holder.exitCode !== null || holder.signalCode !== null) return;
      const exited = once(holder, 'exit');
      process.kill(pid, 'SIGKILL');
      await exited;
    },
  };
}
