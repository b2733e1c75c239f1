/**
 * Zero-copy Rpc (PROTOCOL.md §8 over §6 slots held by this process): a request loaned in the service's request ring
 * (RpcRequestLoan, a client's) and a response loaned in the asking client's response queue (RpcResponseLoan, a
 * handler's). Both write the §8 header at commit; the payload goes straight into the slot.
 */
import { ShmbusError } from '../../errors.js';
import type { RpcRequestOptions } from './client.js';
import type { RpcResponse } from './messages.js';
import { HeldSlot, commitSize, loanEndedError } from '../queue-loan.js';

/** What ends a response loan (its server): commit sends, abort gives the slot back. @internal */
export interface ResponseLoanOwner {
  commitResponse(loan: RpcResponseLoan, slot: HeldSlot, size: number): void;
  abortResponse(loan: RpcResponseLoan, slot: HeldSlot): void;
}

/**
 * Room for a response in the asking client's response queue (from `req.loan(size)` in a handler): write the reply
 * into `bytes`, then `commit()` (it is sent at once and is the answer: the handler's return value is then
 * ignored), or `abort()`. Returning the loan itself from the handler commits it whole; returning anything else
 * with the loan still open aborts it and answers that value; a throw aborts it.
 * @example
 * ```ts
 * Rpc.serve('invert', async (req) => {
 *   const loan = await req.loan(req.data.length);
 *   for (let i = 0; i < req.data.length; i++) loan.bytes[i] = 255 - req.data[i]!;
 *   return loan;
 * }, { copy: false, maxMessageSize: 1 << 20 });
 * ```
 */
export class RpcResponseLoan {
  /** The reply space in the client's response slot, exactly the size asked for. Valid until commit/abort. */
  readonly bytes: Uint8Array;
  readonly #owner: ResponseLoanOwner;
  readonly #slot: HeldSlot;
  /** @internal the id of the request this answers. */
  readonly requestId: number;
  #state: 'open' | 'committed' | 'aborted' = 'open';

  /** @internal The library's way to make one (the constructor is private: users get instances from the API). */
  static create(owner: ResponseLoanOwner, slot: HeldSlot, bytes: Uint8Array, requestId: number): RpcResponseLoan {
    return new RpcResponseLoan(owner, slot, bytes, requestId);
  }

  private constructor(owner: ResponseLoanOwner, slot: HeldSlot, bytes: Uint8Array, requestId: number) {
    this.#owner = owner;
    this.#slot = slot;
    this.bytes = bytes;
    this.requestId = requestId;
  }

  /** @internal 'open', 'committed' or 'aborted'. */
  get state(): 'open' | 'committed' | 'aborted' {
    return this.#state;
  }

  /**
   * Sends the response: its first `size` bytes (default all of `bytes`). If the client is gone the response is
   * dropped (as a returned one would be).
   * @throws ERR_CLOSED (already committed or aborted), ERR_INVALID_ARG (size out of range: the loan is aborted)
   */
  commit(size: number = this.bytes.length): void {
    if (this.#state !== 'open') throw loanEndedError();
    let n: number;
    try {
      n = commitSize(size, this.bytes.length);
    } catch (e) {
      this.abort();
      throw e;
    }
    this.#state = 'committed';
    this.#owner.commitResponse(this, this.#slot, n);
  }

  /** Gives the slot back; nothing is sent (the handler's return value answers). @throws ERR_CLOSED (already ended) */
  abort(): void {
    if (this.#state !== 'open') throw loanEndedError();
    this.#state = 'aborted';
    this.#owner.abortResponse(this, this.#slot);
  }
}

/** What ends a request loan (its client). @internal */
export interface RequestLoanOwner<Res> {
  commitRequest(slot: HeldSlot, size: number, options: RpcRequestOptions | undefined): Promise<RpcResponse<Res>>;
  abortRequest(slot: HeldSlot): void;
}

/**
 * A request written in place in the service's request queue (from `client.loan(size)`): write the payload into
 * `bytes`, then `commit()` to send it and get the response, or `abort()`. Workers take requests in order, so an
 * open loan holds back every request behind it (of every client): fill it promptly.
 * @example
 * ```ts
 * const loan = await client.loan(image.length);
 * loan.bytes.set(image);
 * const res = await loan.commit(undefined, { copy: false, timeout: 1000 });
 * use(res.data);
 * res.release();
 * ```
 */
export class RpcRequestLoan<Res = Uint8Array> {
  /** The request space in the slot, exactly the size asked for. Valid until commit/abort. */
  readonly bytes: Uint8Array;
  readonly #owner: RequestLoanOwner<Res>;
  readonly #slot: HeldSlot;
  #open = true;

  /** @internal The library's way to make one (the constructor is private: users get instances from the API). */
  static create<Res>(owner: RequestLoanOwner<Res>, slot: HeldSlot, bytes: Uint8Array): RpcRequestLoan<Res> {
    return new RpcRequestLoan<Res>(owner, slot, bytes);
  }

  private constructor(owner: RequestLoanOwner<Res>, slot: HeldSlot, bytes: Uint8Array) {
    this.#owner = owner;
    this.#slot = slot;
    this.bytes = bytes;
  }

  /**
   * Sends the request (its first `size` bytes, default all) and resolves with the response (`options` as
   * `client.request`'s: timeout, signal, into, copy).
   * @throws (rejects) as `client.request`; ERR_CLOSED when the loan already ended; ERR_INVALID_ARG (bad size: the
   *   loan is aborted)
   */
  commit(size: number = this.bytes.length, options?: RpcRequestOptions): Promise<RpcResponse<Res>> {
    if (!this.#open) return Promise.reject(loanEndedError());
    this.#open = false;
    let n: number;
    try {
      n = commitSize(size, this.bytes.length);
    } catch (e) {
      this.#owner.abortRequest(this.#slot);
      return Promise.reject(e instanceof ShmbusError ? e : new ShmbusError('ERR_INVALID_ARG', String(e)));
    }
    return this.#owner.commitRequest(this.#slot, n, options);
  }

  /** Gives the slot back; nothing is sent. @throws ERR_CLOSED (already ended) */
  abort(): void {
    if (!this.#open) throw loanEndedError();
    this.#open = false;
    this.#owner.abortRequest(this.#slot);
  }
}
