/** shmbus/protocol: raw layouts for tools that read segments byte by byte (cli, viewer, tests). */
export * from './layout.js';
export { decodeHeader, encodeHeader } from '../segment/header.js';
export type { SegmentHeader } from '../segment/header.js';
export { osName, nameFromOsName, validateName } from '../segment/names.js';
