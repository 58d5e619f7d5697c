/**
 * `npm start` restarted with CRM work still queued: the queue lives in the local DynamoDB (on disk), so the
 * calls waiting when the process stopped reach Kommo after it starts again, once each.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startLocalStack } from '../../infra/local/stack';
import { BELL_ACK_SECONDS } from '../../lambdas/crm/ports';
import { sleep } from '../helpers/stack';
import { startCrmWorld } from './helpers';

const dir = mkdtempSync(join(tmpdir(), 'callbridge-crm-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the local CRM queue across a restart', () => {
  it('keeps the calls queued before the stop and logs them after the start', async () => {
    const w = await startCrmWorld({ stack: { dataDir: dir } });
    for (const id of ['restart-1', 'restart-2']) expect(await w.call({ id, users: [202] }, true)).toBe(202);
    // Stopped before the worker ran: two log jobs, two bell checks (held back for the tabs' acks) and two
    // bells (no tab was open) wait on disk.
    const waiting = (await w.world.stack.crm.queue.stats()).waiting;
    expect(waiting).toBe(6);
    expect(w.world.kommo.written.calls).toHaveLength(0);
    await w.world.stack.stop();

    const again = await startLocalStack({
      dataDir: dir,
      accountCacheMs: 0,
      kommo: { apiOrigin: w.world.kommo.url, retry: { retries: 3, minDelayMs: 20, maxDelayMs: 100 } },
    });
    try {
      expect((await again.crm.queue.stats()).waiting).toBe(waiting);
      // Past the checks' delay, so that they are due too (the calls ended: they ring nothing).
      await sleep(BELL_ACK_SECONDS * 1000);
      await again.crm.drain();
      for (const id of ['restart-1', 'restart-2']) {
        expect(w.world.kommo.written.calls.filter((c) => c.body.uniq === id)).toHaveLength(1);
      }
      expect((await again.crm.queue.stats()).waiting).toBe(0);
    } finally {
      await again.stop();
      await w.world.kommo.close();
    }
  });
});
