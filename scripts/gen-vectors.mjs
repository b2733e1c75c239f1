#!/usr/bin/env node
// Generates the byte-exact test vectors in test/vectors/ from the Node implementation. Run after a deliberate
// layout change (and bump PROTOCOL.md); the .bin diffs are reviewed like code. The Python and C peers must
// decode/encode the same bytes.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { encodeHeader } from '../dist/src/segment/header.js';
import { HEADER_SIZE, HDR_STATE_OFFSET } from '../dist/src/protocol/layout.js';

const out = fileURLToPath(new URL('../test/vectors/', import.meta.url));
const fields = { kind: 'topic', payloadSize: 4096, creatorPid: 4242, creatorStartTime: 123456789, createdAt: 1767225600000, params: [65536, 2048, 7] };
const bytes = new Uint8Array(HEADER_SIZE);
const view = new DataView(bytes.buffer);
encodeHeader(view, fields);
view.setUint32(HDR_STATE_OFFSET, 1, true);
writeFileSync(`${out}segment-header.bin`, bytes);
writeFileSync(`${out}segment-header.json`, `${JSON.stringify({ ...fields, state: 1, version: 1, headerSize: 128, totalSize: 4224 }, null, 2)}\n`);
console.log('wrote test/vectors/segment-header.{bin,json}');
