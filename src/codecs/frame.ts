/**
 * Frame: an image as one message (PROTOCOL.md §9). A 64-byte header (size, pixel type, channel order, row stride,
 * timestamp) followed by the rows. decode() gives typed views of the message's own bytes (no copy), so a frame read
 * with `copy: false` is read straight from the ring; loan() lets a publisher render straight into the ring.
 * Every field is checked before a view is made: a corrupt frame throws ERR_INVALID_ARG, never an out-of-range view.
 */
import { ShmbusError } from '../errors.js';
import type { Loan, PublishOptions, Topic } from '../channels/topic.js';

/** 'SBFR' as bytes 53 42 46 52, read as a little-endian u32. */
export const FRAME_MAGIC = 0x52464253;
export const FRAME_VERSION = 1;
/** Bytes before the pixel data (a multiple of 8, so every dtype's view is aligned when the message is). */
export const FRAME_HEADER_SIZE = 64;

// Header byte offsets (all little-endian).
export const FRAME_MAGIC_OFFSET = 0; // u32
export const FRAME_VERSION_OFFSET = 4; // u16
export const FRAME_HEADER_SIZE_OFFSET = 6; // u16: where the data starts (>= 64, a multiple of 8)
export const FRAME_WIDTH_OFFSET = 8; // u32, >= 1
export const FRAME_HEIGHT_OFFSET = 12; // u32, >= 1
export const FRAME_CHANNELS_OFFSET = 16; // u32: 1, 3 or 4, as the format says
export const FRAME_DTYPE_OFFSET = 20; // u16: FRAME_DTYPES code
export const FRAME_FORMAT_OFFSET = 22; // u16: FRAME_FORMATS code
export const FRAME_STRIDE_OFFSET = 24; // u32: bytes from one row to the next
export const FRAME_FLAGS_OFFSET = 28; // u32: 0 (no flag defined; a reader refuses others)
export const FRAME_TIMESTAMP_OFFSET = 32; // u64: µs since the Unix epoch, 0 = none
export const FRAME_DATA_SIZE_OFFSET = 40; // u32: stride * height
// 44..63 reserved, 0.

/** Pixel sample types: code and bytes per sample. */
export const FRAME_DTYPES = { uint8: { code: 1, bytes: 1 }, uint16: { code: 2, bytes: 2 }, float32: { code: 3, bytes: 4 } } as const;
/** Channel orders: code and channel count. */
export const FRAME_FORMATS = {
  GRAY: { code: 1, channels: 1 },
  RGB: { code: 2, channels: 3 },
  BGR: { code: 3, channels: 3 },
  RGBA: { code: 4, channels: 4 },
  BGRA: { code: 5, channels: 4 },
} as const;

export type FrameDtype = keyof typeof FRAME_DTYPES;
export type FrameFormat = keyof typeof FRAME_FORMATS;
export type FrameData = Uint8Array | Uint16Array | Float32Array;

/** The shape of a frame (what encode and loan take besides the pixels). */
export interface FrameShape {
  width: number;
  height: number;
  /** Channels per pixel; optional, implied by `format` (1 GRAY, 3 RGB/BGR, 4 RGBA/BGRA). */
  channels?: number;
  /** Sample type (default 'uint8'). */
  dtype?: FrameDtype;
  format: FrameFormat;
  /** Bytes from one row to the next (default width * channels * bytes per sample: no padding). */
  stride?: number;
  /** Milliseconds since the Unix epoch (µs resolution; default 0 = none). */
  timestamp?: number;
}

export interface FrameInput extends FrameShape {
  /** The rows: `height` rows of `stride` bytes, or tightly packed rows (width * channels samples each). */
  data: ArrayBufferView;
}

/** A decoded frame: `data` is a view of the message's bytes (rows `stride` bytes apart). */
export interface DecodedFrame {
  width: number;
  height: number;
  channels: number;
  dtype: FrameDtype;
  format: FrameFormat;
  /** Bytes from one row to the next. */
  stride: number;
  /** Milliseconds since the Unix epoch (0 = none). */
  timestamp: number;
  /** Every sample, rows `stride / bytesPerSample` elements apart: a view, not a copy. */
  data: FrameData;
  /** The same samples as bytes. */
  bytes: Uint8Array;
}

/** A frame being rendered straight into a topic's ring. */
export interface FrameLoan {
  readonly width: number;
  readonly height: number;
  readonly channels: number;
  readonly dtype: FrameDtype;
  readonly format: FrameFormat;
  readonly stride: number;
  /** The pixels to fill (a view into the ring; valid until commit/abort). */
  readonly data: FrameData;
  readonly bytes: Uint8Array;
  /** The sequence number the frame gets. */
  readonly seq: number;
  /** Publishes the frame (its header was written at loan time); returns its sequence number. */
  commit(): number;
  abort(): void;
}

function invalid(message: string): ShmbusError {
  return new ShmbusError('ERR_INVALID_ARG', message);
}

interface Layout {
  width: number;
  height: number;
  channels: number;
  dtype: FrameDtype;
  format: FrameFormat;
  stride: number;
  rowBytes: number;
  dataSize: number;
}

const isDim = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 0xffffffff;

/** Checks a FrameShape and completes its defaults. */
function layoutOf(shape: FrameShape, what: string): Layout {
  if (shape === null || typeof shape !== 'object') throw invalid(`${what}: needs { width, height, format, ... }`);
  const { width, height, format } = shape;
  const dtype = shape.dtype ?? 'uint8';
  if (!isDim(width) || !isDim(height)) throw invalid(`${what}: width and height must be whole numbers >= 1 (got ${String(width)} x ${String(height)})`);
  if (typeof format !== 'string' || !Object.hasOwn(FRAME_FORMATS, format)) {
    throw invalid(`${what}: format must be one of ${Object.keys(FRAME_FORMATS).join(', ')} (got ${String(format)})`);
  }
  if (typeof dtype !== 'string' || !Object.hasOwn(FRAME_DTYPES, dtype)) {
    throw invalid(`${what}: dtype must be one of ${Object.keys(FRAME_DTYPES).join(', ')} (got ${String(dtype)})`);
  }
  const channels = FRAME_FORMATS[format].channels;
  if (shape.channels !== undefined && shape.channels !== channels) {
    throw invalid(`${what}: format ${format} has ${channels} channels (got channels ${String(shape.channels)})`);
  }
  const bps = FRAME_DTYPES[dtype].bytes;
  const rowBytes = width * channels * bps;
  const stride = shape.stride ?? rowBytes;
  if (!isDim(stride) || stride < rowBytes || stride % bps !== 0) {
    throw invalid(`${what}: stride must be a whole number >= ${rowBytes} (width * channels * ${bps}) and a multiple of ${bps} (got ${String(stride)})`);
  }
  const dataSize = stride * height;
  if (dataSize > 0xffffffff) throw invalid(`${what}: ${dataSize} bytes of pixels is more than a frame holds (2^32 - 1)`);
  if (shape.timestamp !== undefined && !(typeof shape.timestamp === 'number' && shape.timestamp >= 0 && Number.isFinite(shape.timestamp))) {
    throw invalid(`${what}: timestamp must be milliseconds since the epoch >= 0 (got ${String(shape.timestamp)})`);
  }
  return { width, height, channels, dtype, format, stride, rowBytes, dataSize };
}

function writeHeader(bytes: Uint8Array, l: Layout, timestamp: number): void {
  bytes.fill(0, 0, FRAME_HEADER_SIZE);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, FRAME_HEADER_SIZE);
  dv.setUint32(FRAME_MAGIC_OFFSET, FRAME_MAGIC, true);
  dv.setUint16(FRAME_VERSION_OFFSET, FRAME_VERSION, true);
  dv.setUint16(FRAME_HEADER_SIZE_OFFSET, FRAME_HEADER_SIZE, true);
  dv.setUint32(FRAME_WIDTH_OFFSET, l.width, true);
  dv.setUint32(FRAME_HEIGHT_OFFSET, l.height, true);
  dv.setUint32(FRAME_CHANNELS_OFFSET, l.channels, true);
  dv.setUint16(FRAME_DTYPE_OFFSET, FRAME_DTYPES[l.dtype].code, true);
  dv.setUint16(FRAME_FORMAT_OFFSET, FRAME_FORMATS[l.format].code, true);
  dv.setUint32(FRAME_STRIDE_OFFSET, l.stride, true);
  dv.setBigUint64(FRAME_TIMESTAMP_OFFSET, BigInt(Math.round(timestamp * 1000)), true);
  dv.setUint32(FRAME_DATA_SIZE_OFFSET, l.dataSize, true);
}

/** A typed view of `size` bytes at `offset` of `bytes`; copies only when the bytes are not aligned for the type. */
function view(bytes: Uint8Array, offset: number, size: number, dtype: FrameDtype): FrameData {
  const at = bytes.byteOffset + offset;
  switch (dtype) {
    case 'uint8':
      return new Uint8Array(bytes.buffer, at, size);
    case 'uint16':
      return at % 2 === 0 ? new Uint16Array(bytes.buffer, at, size / 2) : new Uint16Array(bytes.slice(offset, offset + size).buffer);
    case 'float32':
      return at % 4 === 0 ? new Float32Array(bytes.buffer, at, size / 4) : new Float32Array(bytes.slice(offset, offset + size).buffer);
  }
}

function code<T extends Record<string, { code: number }>>(table: T, value: number): keyof T | undefined {
  return (Object.keys(table) as (keyof T)[]).find((k) => table[k]!.code === value);
}

export const Frame = {
  /** Channels of a format: GRAY 1, RGB/BGR 3, RGBA/BGRA 4. */
  channelsOf(format: FrameFormat): number {
    if (typeof format !== 'string' || !Object.hasOwn(FRAME_FORMATS, format)) throw invalid(`unknown frame format ${String(format)}`);
    return FRAME_FORMATS[format].channels;
  },

  /** Bytes an encoded frame of this shape takes (header + stride * height). @throws ERR_INVALID_ARG */
  byteLength(shape: FrameShape): number {
    return FRAME_HEADER_SIZE + layoutOf(shape, 'Frame.byteLength').dataSize;
  },

  /**
   * The frame as one message: header, then `height` rows `stride` bytes apart. `data` holds either exactly
   * stride * height bytes or tightly packed rows (padding is then zero-filled). @throws ERR_INVALID_ARG
   */
  encode(frame: FrameInput): Uint8Array {
    const l = layoutOf(frame, 'Frame.encode');
    const d = frame.data;
    if (!ArrayBuffer.isView(d)) throw invalid('Frame.encode: data must be a TypedArray or DataView of the pixels');
    const src = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
    const out = new Uint8Array(FRAME_HEADER_SIZE + l.dataSize);
    writeHeader(out, l, frame.timestamp ?? 0);
    if (src.byteLength === l.dataSize) out.set(src, FRAME_HEADER_SIZE);
    else if (src.byteLength === l.rowBytes * l.height) {
      for (let y = 0; y < l.height; y++) out.set(src.subarray(y * l.rowBytes, (y + 1) * l.rowBytes), FRAME_HEADER_SIZE + y * l.stride);
    } else {
      throw invalid(`Frame.encode: data has ${src.byteLength} bytes; a ${l.width}x${l.height} ${l.format} ${l.dtype} frame needs ${l.rowBytes * l.height} (packed) or ${l.dataSize} (stride ${l.stride})`);
    }
    return out;
  },

  /**
   * Reads a frame without copying: `data` is a view of `bytes` (copied only if `bytes` is not aligned for the
   * dtype, which never happens for messages read from a shmbus channel). Every header field is checked against
   * the length. @throws ERR_INVALID_ARG for bytes that are not a valid frame
   */
  decode(bytes: Uint8Array): DecodedFrame {
    if (!(bytes instanceof Uint8Array)) throw invalid('Frame.decode: needs a Uint8Array (e.g. msg.data)');
    const bad = (why: string) => invalid(`not a valid frame: ${why}`);
    if (bytes.byteLength < FRAME_HEADER_SIZE) throw bad(`${bytes.byteLength} bytes, less than the ${FRAME_HEADER_SIZE}-byte header`);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, FRAME_HEADER_SIZE);
    if (dv.getUint32(FRAME_MAGIC_OFFSET, true) !== FRAME_MAGIC) throw bad('wrong magic (not a frame)');
    const version = dv.getUint16(FRAME_VERSION_OFFSET, true);
    if (version !== FRAME_VERSION) throw bad(`frame version ${version} (this shmbus reads ${FRAME_VERSION})`);
    const headerSize = dv.getUint16(FRAME_HEADER_SIZE_OFFSET, true);
    if (headerSize < FRAME_HEADER_SIZE || headerSize % 8 !== 0) throw bad(`header size ${headerSize}`);
    const dtype = code(FRAME_DTYPES, dv.getUint16(FRAME_DTYPE_OFFSET, true));
    const format = code(FRAME_FORMATS, dv.getUint16(FRAME_FORMAT_OFFSET, true));
    if (dtype === undefined) throw bad(`unknown dtype code ${dv.getUint16(FRAME_DTYPE_OFFSET, true)}`);
    if (format === undefined) throw bad(`unknown format code ${dv.getUint16(FRAME_FORMAT_OFFSET, true)}`);
    const flags = dv.getUint32(FRAME_FLAGS_OFFSET, true);
    if (flags !== 0) throw bad(`unknown flags ${flags}`);
    const shape = {
      width: dv.getUint32(FRAME_WIDTH_OFFSET, true),
      height: dv.getUint32(FRAME_HEIGHT_OFFSET, true),
      channels: dv.getUint32(FRAME_CHANNELS_OFFSET, true),
      dtype,
      format,
      stride: dv.getUint32(FRAME_STRIDE_OFFSET, true),
    };
    let l: Layout;
    try {
      l = layoutOf(shape, 'frame');
    } catch (e) {
      throw bad((e as Error).message);
    }
    const dataSize = dv.getUint32(FRAME_DATA_SIZE_OFFSET, true);
    if (dataSize !== l.dataSize) throw bad(`data size ${dataSize}, but stride ${l.stride} x height ${l.height} = ${l.dataSize}`);
    if (headerSize + dataSize > bytes.byteLength) throw bad(`${headerSize + dataSize} bytes needed, ${bytes.byteLength} given (truncated)`);
    const micros = dv.getBigUint64(FRAME_TIMESTAMP_OFFSET, true);
    return {
      width: l.width,
      height: l.height,
      channels: l.channels,
      dtype: l.dtype,
      format: l.format,
      stride: l.stride,
      timestamp: Number(micros) / 1000,
      data: view(bytes, headerSize, dataSize, l.dtype),
      bytes: bytes.subarray(headerSize, headerSize + dataSize),
    };
  },

  /**
   * Loans space for one frame from a topic and writes its header: render into `data`, then `commit()`.
   * @throws ERR_INVALID_ARG, and what Topic#loan throws (ERR_MESSAGE_TOO_LARGE, ERR_TIMEOUT, ERR_CLOSED)
   */
  loan(topic: Topic<unknown>, shape: FrameShape, options?: PublishOptions): FrameLoan {
    const l = layoutOf(shape, 'Frame.loan');
    const loan: Loan = topic.loan(FRAME_HEADER_SIZE + l.dataSize, options);
    // Ring payloads start 8-aligned (PROTOCOL §5.2), so the typed view below is never a copy.
    if (loan.bytes.byteOffset % 8 !== 0) {
      loan.abort();
      throw invalid('Frame.loan: the loaned space is not 8-byte aligned');
    }
    writeHeader(loan.bytes, l, shape.timestamp ?? 0);
    const data = view(loan.bytes, FRAME_HEADER_SIZE, l.dataSize, l.dtype);
    const bytes = loan.bytes.subarray(FRAME_HEADER_SIZE);
    return {
      width: l.width,
      height: l.height,
      channels: l.channels,
      dtype: l.dtype,
      format: l.format,
      stride: l.stride,
      data,
      bytes,
      seq: loan.seq,
      commit: () => loan.commit(),
      abort: () => loan.abort(),
    };
  },
} as const;
