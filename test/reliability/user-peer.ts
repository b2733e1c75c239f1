/**
 * A peer for the security tests, run as another user (setpriv) from a copy readable by that user
 * (test/reliability/other-user.ts). One command per stdin line, one answer line each ("error CODE" on a ShmbusError):
 *   create NAME SIZE MODE_OCTAL -> created     open NAME -> opened <kind>     byte NAME I -> byte <v> (opens, reads, closes)
 *   openro POSIXNAME -> ro <first byte> <first byte after a private write of 0xEE>    squat POSIXNAME MODE -> squatted
 *   (a plain file in /dev/shm holding garbage, as a squatter that is not shmbus would leave)   exit
 */
import { openSync, writeSync, closeSync, fchmodSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Segment, isShmbusError } from '../../src/index.js';

const held: Segment[] = [];
const say = (l: string): void => void process.stdout.write(`${l}\n`);
say('ready');
createInterface({ input: process.stdin }).on('line', (line) => {
  const [cmd, a, b, c] = line.trim().split(/\s+/);
  try {
    switch (cmd) {
      case 'create':
        held.push(Segment.create(a!, { size: Number(b), mode: parseInt(c!, 8) }));
        say('created');
        break;
      case 'open': {
        const s = Segment.open(a!);
        say(`opened ${s.kind}`);
        s.close();
        break;
      }
      case 'byte': {
        const s = Segment.open(a!);
        say(`byte ${s.bytes[Number(b)]}`);
        s.close();
        break;
      }
      case 'openro': {
        const s = Segment.openRaw(a!, { readOnly: true });
        const before = s.bytes[0];
        s.bytes[0] = 0xee; // copy-on-write: stays in this process
        say(`ro ${before} ${s.bytes[0]}`);
        s.close();
        break;
      }
      case 'squat': {
        const fd = openSync(`/dev/shm${a}`, 'wx', parseInt(b!, 8));
        fchmodSync(fd, parseInt(b!, 8));
        writeSync(fd, Buffer.alloc(4096, 0x5a));
        closeSync(fd);
        say('squatted');
        break;
      }
      case 'exit':
        for (const s of held) s.close();
        process.exit(0);
      default:
        say(`unknown ${cmd}`);
    }
  } catch (e) {
    if (isShmbusError(e)) say(`error ${e.code}`);
    else say(`threw ${String(e)}`);
  }
});
