/**
 * Reads the image of a writer that knows nothing of shmbus (legacy-writer.c, seed 000's layout: three native
 * int32 width, height, channels, then the pixels) from its plain POSIX shm object, in Node.
 *   node dist/examples/camera-to-python/legacy-reader.js <posix-name>
 * `Segment.openRaw` maps it read-only (copy-on-write) and knows its real size, so the three ints are checked
 * before any pixel is looked at: a header claiming more pixels than the object holds is refused with a message,
 * never read past the end. Prints "result {json}" or "refused {json}".
 */
import { Segment } from '../../src/index.js';

const HEADER = 12;
const seg = Segment.openRaw(process.argv[2]!, { readOnly: true });
try {
  const bytes = seg.bytes;
  const refuse = (why: string) => console.log(`refused ${JSON.stringify({ reader: 'node', why })}`);
  if (bytes.length < HEADER) {
    refuse(`the object has ${bytes.length} bytes, less than the ${HEADER}-byte header`);
  } else {
    const [width, height, channels] = new Int32Array(bytes.buffer, bytes.byteOffset, 3); // native order, as written
    const need = HEADER + width! * height! * channels!;
    if (!(width! > 0 && width! <= 65535 && height! > 0 && height! <= 65535 && [1, 3, 4].includes(channels!))) {
      refuse(`impossible header ${width}x${height}x${channels}`);
    } else if (need > bytes.length) {
      refuse(`header says ${width}x${height}x${channels} = ${need} bytes, the object holds ${bytes.length}`);
    } else if (channels !== 3) {
      refuse(`${channels} channels: this reader reads BGR images`);
    } else {
      const w = width!;
      const h = height!;
      const px = bytes.subarray(HEADER, need); // a view of the shared memory: no copy
      let ok = true;
      let checksum = 0;
      for (let y = 0, i = 0; y < h; y++) {
        for (let x = 0; x < w; x++, i += 3) {
          if (px[i] !== (x & 255) || px[i + 1] !== (y & 255) || px[i + 2] !== ((x + y) & 255)) ok = false;
          checksum += px[i]! + px[i + 1]! + px[i + 2]!;
        }
      }
      const at = (Math.floor(h / 2) * w + Math.floor(w / 2)) * 3;
      const center = [px[at], px[at + 1], px[at + 2]];
      console.log(`result ${JSON.stringify({ reader: 'node', width: w, height: h, channels, ok, checksum, center })}`);
    }
  }
} finally {
  seg.close();
}
