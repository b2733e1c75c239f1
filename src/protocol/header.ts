/** The segment header (PROTOCOL.md "Segment header"): pure encode/decode over bytes, no OS access. */
import { ShmbusError } from '../errors.js';
import {
  HDR_CREATED_AT_OFFSET,
  HDR_CREATOR_PID_OFFSET,
  HDR_CREATOR_NS_OFFSET,
  HDR_CREATOR_START_OFFSET,
  HDR_FLAGS_OFFSET,
  HDR_HEADER_SIZE_OFFSET,
  HDR_KIND_OFFSET,
  HDR_MAGIC_OFFSET,
  HDR_PARAMS_COUNT,
  HDR_PARAMS_OFFSET,
  HDR_PAYLOAD_SIZE_OFFSET,
  HDR_STATE_OFFSET,
  HDR_TOTAL_SIZE_OFFSET,
  HDR_VERSION_OFFSET,
  HEADER_SIZE,
  KIND,
  PROTOCOL_VERSION,
  SEGMENT_MAGIC,
  STATE_INIT,
  STATE_READY,
  kindName,
  type SegmentKind,
} from './layout.js';

export interface SegmentHeader {
  version: number;
  kind: SegmentKind;
  state: number;
  headerSize: number;
  totalSize: number;
  payloadSize: number;
  creatorPid: number;
  creatorStartTime: number;
  /** Creator's pid namespace (inode of /proc/self/ns/pid as u32), 0 = unknown. */
  creatorNs: number;
  createdAt: number;
  params: number[];
}

/** Writes every field but `state` (the creator publishes the header by storing STATE_READY last). */
export function encodeHeader(
  view: DataView,
  fields: Omit<SegmentHeader, 'state' | 'version' | 'headerSize' | 'totalSize' | 'creatorNs'> & { creatorNs?: number },
): void {
  view.setUint32(HDR_MAGIC_OFFSET, SEGMENT_MAGIC, true);
  view.setUint16(HDR_VERSION_OFFSET, PROTOCOL_VERSION, true);
  view.setUint16(HDR_KIND_OFFSET, KIND[fields.kind], true);
  view.setUint32(HDR_HEADER_SIZE_OFFSET, HEADER_SIZE, true);
  view.setBigUint64(HDR_TOTAL_SIZE_OFFSET, BigInt(HEADER_SIZE + fields.payloadSize), true);
  view.setBigUint64(HDR_PAYLOAD_SIZE_OFFSET, BigInt(fields.payloadSize), true);
  view.setUint32(HDR_CREATOR_PID_OFFSET, fields.creatorPid, true);
  view.setUint32(HDR_FLAGS_OFFSET, 0, true);
  view.setBigUint64(HDR_CREATOR_START_OFFSET, BigInt(fields.creatorStartTime), true);
  view.setBigUint64(HDR_CREATED_AT_OFFSET, BigInt(fields.createdAt), true);
  view.setUint32(HDR_CREATOR_NS_OFFSET, fields.creatorNs ?? 0, true);
  view.setUint32(HDR_CREATOR_NS_OFFSET + 4, 0, true);
  for (let i = 0; i < HDR_PARAMS_COUNT; i++) {
    view.setUint32(HDR_PARAMS_OFFSET + 4 * i, fields.params[i] ?? 0, true);
  }
}

function u64(view: DataView, offset: number): number {
  const v = view.getBigUint64(offset, true);
  // Sizes beyond 2^53 cannot be real mappings; report them as corrupt rather than round them.
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.NaN : Number(v);
}

/**
 * Decodes and validates a header against the size of the object it came from. Refuses (never guesses) on any
 * inconsistency: ERR_SHM_CORRUPT for foreign or damaged bytes, ERR_SHM_VERSION for a newer protocol.
 * A header whose state is still STATE_INIT is returned as `{ state }` (the caller waits for ready); its other
 * fields are only checked once it is ready.
 */
export function decodeHeader(bytes: Uint8Array, objectSize: number, name: string): SegmentHeader {
  const corrupt = (why: string): ShmbusError =>
    new ShmbusError('ERR_SHM_CORRUPT', `segment "${name}" is not a valid shmbus segment: ${why}`, { segment: name });
  if (objectSize < HEADER_SIZE || bytes.byteLength < HEADER_SIZE) {
    throw corrupt(`it is ${objectSize} bytes, smaller than the ${HEADER_SIZE}-byte header`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, HEADER_SIZE);
  const state = view.getUint32(HDR_STATE_OFFSET, true);
  const magic = view.getUint32(HDR_MAGIC_OFFSET, true);
  // The creator writes every field (magic first) before it stores state = READY: while state is INIT nothing else
  // is complete, so nothing else is judged (PROTOCOL.md §2.2 step 3: the opener waits).
  if (state === STATE_INIT) return { state } as SegmentHeader;
  if (magic !== SEGMENT_MAGIC) throw corrupt(`bad magic 0x${magic.toString(16).padStart(8, '0')}`);
  if (state !== STATE_READY) throw corrupt(`bad state word ${state}`);
  const version = view.getUint16(HDR_VERSION_OFFSET, true);
  if (version !== PROTOCOL_VERSION) {
    throw new ShmbusError(
      version > PROTOCOL_VERSION ? 'ERR_SHM_VERSION' : 'ERR_SHM_CORRUPT',
      `segment "${name}" uses protocol version ${version}; this shmbus speaks version ${PROTOCOL_VERSION}` +
        (version > PROTOCOL_VERSION ? ' (upgrade shmbus in this process)' : ''),
      { segment: name },
    );
  }
  const kindCode = view.getUint16(HDR_KIND_OFFSET, true);
  const kind = kindName(kindCode);
  if (kind === undefined) throw corrupt(`unknown kind ${kindCode}`);
  const headerSize = view.getUint32(HDR_HEADER_SIZE_OFFSET, true);
  if (headerSize !== HEADER_SIZE) throw corrupt(`header size ${headerSize}, expected ${HEADER_SIZE}`);
  const totalSize = u64(view, HDR_TOTAL_SIZE_OFFSET);
  const payloadSize = u64(view, HDR_PAYLOAD_SIZE_OFFSET);
  if (totalSize !== objectSize) throw corrupt(`header says ${totalSize} bytes but the object has ${objectSize}`);
  if (payloadSize !== totalSize - headerSize) throw corrupt(`payload size ${payloadSize} does not fit ${totalSize}`);
  const params: number[] = [];
  for (let i = 0; i < HDR_PARAMS_COUNT; i++) params.push(view.getUint32(HDR_PARAMS_OFFSET + 4 * i, true));
  return {
    version,
    kind,
    state,
    headerSize,
    totalSize,
    payloadSize,
    creatorPid: view.getUint32(HDR_CREATOR_PID_OFFSET, true),
    creatorStartTime: u64(view, HDR_CREATOR_START_OFFSET) || 0,
    createdAt: u64(view, HDR_CREATED_AT_OFFSET) || 0,
    creatorNs: view.getUint32(HDR_CREATOR_NS_OFFSET, true),
    params,
  };
}
