/**
 * What the README says of the push path: a webhook to one agent waits for three DynamoDB round trips before
 * its push and four before its answer. Every request the webhook function makes to the state table is slowed
 * by the same delay, so a request that had to wait for another starts after it ended: the waves of requests
 * are counted from their start and end times.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_TABLES } from '../../infra/local/stack';
import { callEvent, sleep, startTestStack, type TestStack } from '../helpers/stack';

const DELAY_MS = 40;

interface Request {
  command: string;
  start: number;
  end: number;
}

let t: TestStack;
let recording: Request[] | undefined;
beforeAll(async () => {
  t = await startTestStack();
  t.stack.dynamoOf('webhook').middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as { TableName?: string; RequestItems?: Record<string, unknown> };
      const onState =
        input.TableName === LOCAL_TABLES.state ||
        Object.keys(input.RequestItems ?? {}).includes(LOCAL_TABLES.state);
      if (!recording || !onState) return next(args);
      const start = performance.now();
      await sleep(DELAY_MS);
      try {
        return await next(args);
      } finally {
        recording.push({ command: context.commandName ?? '', start, end: performance.now() });
      }
    },
    { step: 'initialize', name: 'roundTrips' },
  );
});
afterAll(() => t.stop());

/** Requests grouped into waves: a request that starts after every earlier one ended had to wait for them. */
const waves = (requests: readonly Request[]): string[][] => {
  const out: string[][] = [];
  let endOfAll = Number.NEGATIVE_INFINITY;
  for (const request of [...requests].sort((a, b) => a.start - b.start)) {
    if (request.start >= endOfAll || out.length === 0) out.push([]);
    out.at(-1)?.push(request.command);
    endOfAll = Math.max(endOfAll, request.end);
  }
  return out;
};

describe('the webhook’s round trips to DynamoDB', () => {
  it('a ringing call to one agent: three waves before the push, four in all', async () => {
    const socket = await t.connect(61);
    const event = callEvent('call.ringing', { users: [61] });
    recording = [];
    let pushedAt = 0;
    const pushed = socket.next('call').then((m) => {
      pushedAt = performance.now();
      return m;
    });
    expect((await t.webhook(event)).status).toBe(202);
    await pushed;
    const requests = recording;
    recording = undefined;
    const all = waves(requests);
    const beforePush = waves(requests.filter((r) => r.start < pushedAt - DELAY_MS / 2));
    expect(beforePush).toHaveLength(3);
    expect(all).toHaveLength(4);
    // The first wave claims the id, reads the call and its extensions and takes a seq, all at once.
    expect(all[0]?.length).toBeGreaterThanOrEqual(3);
    socket.close();
  });
});
