/** shmbus: the public surface. Re-exports only. */
// Every handle is Disposable: consumers compiled with an older `lib` (or TypeScript 7's defaults) still get
// Symbol.dispose / Symbol.asyncDispose and the Disposable types. `preserve` keeps the directive in index.d.ts.
/// <reference lib="esnext.disposable" preserve="true" />
export { ShmbusError, isShmbusError, ERROR_CODES } from './errors.js';
export type { ShmbusErrorCode, ShmbusErrorOptions } from './errors.js';
export { Segment } from './segment/segment.js';
export type {
  SegmentCreateOptions,
  SegmentOpenOptions,
  RawOpenOptions,
  MapFileOptions,
  SegmentInfo,
} from './segment/segment.js';
export type { SegmentKind } from './protocol/layout.js';
export type { WaitOptions } from './base/deadline.js';
export type { WaitResult } from './base/futex.js';
export { Mutex } from './sync/mutex.js';
export type { LockResult, LockOptions, MutexOptions } from './sync/mutex.js';
export type { NamedLayout, RobustOptions, SyncClass, SyncCreateOptions, SyncOpenOptions } from './sync/primitive.js';
export { MUTEX_SIZE, MUTEX_ALIGN } from './protocol/layout.js';
export { Queue, QueueMessage } from './channels/queue.js';
export type {
  QueueCreateOptions,
  QueueHandleOptions,
  QueueInput,
  QueueOpenOptions,
  QueueStats,
  QueueReceiveOptions,
  QueueTryReceiveOptions,
} from './channels/queue.js';
export { Rpc, RpcClient, RpcServer, RpcRequest, RpcResponse } from './channels/rpc.js';
export type {
  RpcHandler,
  RpcReply,
  RpcServeOptions,
  RpcConnectOptions,
  RpcRequestOptions,
  RpcServerStats,
  RpcClientStats,
} from './channels/rpc.js';

export { RwLock } from './sync/rwlock.js';
export type { RwLockOptions } from './sync/rwlock.js';
export { RWLOCK_SIZE } from './protocol/layout.js';
export { Semaphore } from './sync/semaphore.js';
export type { SemaphoreInit, SemaphoreOptions, SemaphoreCreateOptions } from './sync/semaphore.js';
export { Event } from './sync/event.js';
export type { EventInit, EventOptions, EventCreateOptions } from './sync/event.js';
export { SEMAPHORE_SIZE, EVENT_SIZE, SYNC_ALIGN } from './protocol/layout.js';
export { Topic, Subscriber, Loan } from './channels/topic.js';
export type {
  TopicCreateOptions,
  TopicOpenOptions,
  PublishOptions,
  PublishAsyncOptions,
  Publishable,
  SubscribeOptions,
  ReadOptions,
  TryReadOptions,
  TopicStats,
  SubscriberStats,
  WaitForSubscribersOptions,
} from './channels/topic.js';
export { Message } from './channels/message.js';
export { Mailbox } from './channels/mailbox.js';
export type {
  MailboxCreateOptions,
  MailboxOpenOptions,
  MailboxWriteOptions,
  MailboxWriteAsyncOptions,
  MailboxReadOptions,
  MailboxInput,
  MailboxStats,
  ChangedOptions,
  MailboxValue,
} from './channels/mailbox.js';
export type { Codec, CodecOption } from './channels/codec.js';
export { Frame } from './codecs/frame.js';
export type { FrameShape, FrameInput, DecodedFrame, FrameLoan, FrameDtype, FrameFormat, FrameData } from './codecs/frame.js';
export { Parts } from './codecs/parts.js';
export type { PartsRecord, PartValue, PartType, JsonValue, JsonObject, JsonArray } from './codecs/parts.js';
