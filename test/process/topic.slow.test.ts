/** Full-size Topic stress (SHMBUS_SLOW=1): 3 publishers x 3 subscribers, 100 000 checksummed messages. */
import { describe, it } from 'node:test';
import { threeByThree } from './topic-stress.js';

describe('Topic across processes (slow)', () => {
  it('3 publishers x 3 subscribers, 100 000 messages of 16 B..64 KiB: all delivered, in order, uncorrupted', async () => {
    await threeByThree(100_000, 600_000);
  });
});
