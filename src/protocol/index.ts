/** shmbus/protocol: raw layouts for tools that read segments byte by byte (cli, viewer, tests). */
export * from './layout.js';
export { decodeHeader, encodeHeader } from './header.js';
export type { SegmentHeader } from './header.js';
export { osName, nameFromOsName, validateName } from './names.js';
