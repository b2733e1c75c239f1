/** Full-size Mailbox soak (SHMBUS_SLOW=1): 60 s of a 1 MiB value rewritten as fast as possible, 4 checking readers. */
import { describe, it } from 'node:test';
import { tornReadSoak } from './mailbox-soak.js';

describe('Mailbox across processes (slow)', () => {
  it('1 writer rewriting a 1 MiB value, 4 readers checking every read: never a torn value (60 s)', async () => {
    await tornReadSoak(60_000);
  });
});
