/**
 * Rpc: request/response between processes (PROTOCOL.md §8). Requests go through a Queue ring embedded in the rpc
 * segment (any number of client processes send, any number of server workers take); each response goes to the
 * asking client's own response queue, "<name>.r<clientId>", matched by request id. A worker table with pid, start
 * time and pid namespace tells clients at once whether a server is alive, and which request a dead worker had in
 * hand. The parts: rpc/service.ts (segment, lock, worker table, wire), rpc/server.ts, rpc/client.ts.
 */
import { ShmbusError } from '../errors.js';
import { RpcClient } from './rpc/client.js';
import type { RpcRequest } from './rpc/messages.js';
import type { RpcResponseLoan } from './rpc/messages.js';
import { connectSettings, notFunction, serveSettings, type RpcConnectOptions, type RpcServeOptions } from './rpc/options.js';
import { RpcServer, removeStaleResponseQueues } from './rpc/server.js';
import { Service, unlinkQuietly, validateServiceName } from './rpc/service.js';
import type { CodecOption } from './codec.js';

export { RpcClient, type RpcClientStats } from './rpc/client.js';
export type { RpcRequestOptions } from './rpc/messages.js';
export { RpcRequest, RpcResponse } from './rpc/messages.js';
export { RpcRequestLoan, RpcResponseLoan } from './rpc/messages.js';
export type { RpcConnectOptions, RpcServeOptions } from './rpc/options.js';
export { RpcServer, type RpcServerStats } from './rpc/server.js';

/** What a handler returns without a codec: the response payload, or the response loan it filled (`req.loan`). */
export type RpcReply = Uint8Array | string | RpcResponseLoan;
/**
 * Serves one request; a throw (or rejection) is sent back to the caller as ERR_REMOTE and the server keeps
 * serving. With a codec, `Req` is the decoded request type and `Res` what the handler returns (encoded by it).
 */
export type RpcHandler<Req = Uint8Array, Res = RpcReply> = (request: RpcRequest<Req>) => Res | PromiseLike<Res>;

/**
 * Request/response between processes.
 *
 * @example
 * ```ts
 * const server = Rpc.serve('resize', async (req) => `got ${req.data.length} bytes`, { workers: 2 });
 * const client = Rpc.connect('resize');
 * const res = await client.request(new Uint8Array(10), { timeout: 1000 });
 * console.log(res.text());
 * client.close();
 * await server.close();
 * ```
 */
export class Rpc {
  private constructor() {}

  /**
   * Serves `name`: creates the service if needed (or joins the servers already there) and runs `workers`
   * concurrent handler calls in this process until {@link RpcServer.close}. With `codec`, `req.value` is the
   * decoded request and the handler returns a value the codec encodes.
   * @throws ERR_INVALID_ARG, ERR_INVALID_NAME (also a name longer than 188 characters), ERR_TOO_MANY_WORKERS,
   *   ERR_SHM_KIND, ERR_SHM_CORRUPT, ERR_SHM_NO_SPACE, ERR_SHM_PERMISSION
   * @example
   * ```ts
   * const server = Rpc.serve('upper', (req) => req.text().toUpperCase(), { workers: 2 });
   * const sum = Rpc.serve<number[], number>('sum', (req) => req.value.reduce((a, b) => a + b, 0), { codec: 'json' });
   * ```
   */
  static serve<Req, Res>(name: string, handler: RpcHandler<Req, Res>, options: RpcServeOptions<Req, Res> & { codec: CodecOption<Req | Res> }): RpcServer<Req, Res>;
  static serve(name: string, handler: RpcHandler<Uint8Array, RpcReply>, options?: RpcServeOptions): RpcServer;
  static serve<Req, Res>(name: string, handler: RpcHandler<Req, Res>, options?: RpcServeOptions<Req, Res>): RpcServer<Req, Res> {
    if (typeof handler !== 'function') throw notFunction(handler);
    const s = serveSettings(options);
    validateServiceName(name);
    for (;;) {
      let service: Service;
      try {
        service = Service.open(name, s.spin, s.livenessInterval);
      } catch (e) {
        if (!(e instanceof ShmbusError) || e.code !== 'ERR_SHM_NOT_FOUND') throw e;
        try {
          service = Service.create(name, s.slots, s.slotSize, s.mode, s.spin, s.livenessInterval);
        } catch (e2) {
          if (!(e2 instanceof ShmbusError) || e2.code !== 'ERR_SHM_EXISTS') throw e2;
          continue; // another server created it first: open that one
        }
      }
      let joined;
      try {
        joined = service.join(s.workers, s.slots, s.slotSize);
      } catch (e) {
        service.segment.close();
        throw e;
      }
      if (joined === 'retired') {
        // The last server of that segment left (or it was dead with other sizes): its name is gone; start over.
        service.segment.close();
        continue;
      }
      return RpcServer.create<Req, Res>(name, service, joined, handler, s);
    }
  }

  /**
   * A client of `name`. Connecting never waits: the service is looked up at each request, and a request fails
   * with ERR_NO_SERVER at once when no server is alive. With `codec`, `request` takes values the codec encodes
   * and `res.value` is the decoded response.
   * @throws ERR_INVALID_ARG, ERR_INVALID_NAME (also a name longer than 188 characters)
   * @example
   * ```ts
   * const client = Rpc.connect('upper');
   * console.log((await client.request('hi', { timeout: 1000 })).text());
   * const sum = Rpc.connect<number[], number>('sum', { codec: 'json' });
   * console.log((await sum.request([1, 2, 3])).value); // 6
   * ```
   */
  static connect<Req, Res>(name: string, options: RpcConnectOptions<Req, Res> & { codec: CodecOption<Req | Res> }): RpcClient<Req, Res>;
  static connect(name: string, options?: RpcConnectOptions): RpcClient;
  static connect<Req, Res>(name: string, options?: RpcConnectOptions<Req, Res>): RpcClient<Req, Res> {
    const s = connectSettings(options);
    validateServiceName(name);
    return RpcClient.create<Req, Res>(name, s);
  }

  /**
   * Removes the service's name (its servers, if any, stop being reachable: clients see ERR_NO_SERVER) and the
   * response queues of clients that died without closing.
   * @throws ERR_INVALID_NAME
   */
  static unlink(name: string): void {
    let service: Service | undefined;
    try {
      service = Service.open(name, undefined, 50);
    } catch {
      unlinkQuietly(name); // missing, or not a usable rpc segment: just the name
    }
    if (service !== undefined) {
      try {
        service.retireNow();
      } finally {
        service.segment.close();
      }
    }
    removeStaleResponseQueues(name);
  }
}
