/** A Kommo world with the account installed, and a way to send its phone system's signed call events. */

import type { CallEvent } from '../../lambdas/core/protocol';
import { signWebhook } from '../../lambdas/core/webhook-signature';
import { type KommoWorld, startKommoWorld, type WorldOptions } from '../helpers/kommo-world';

export const KNOWN = '+1 555 123 4567';
export const UNKNOWN = '+1 555 000 1111';

export interface CallSpec {
  id: string;
  from?: string;
  direction?: 'inbound' | 'outbound';
  users?: number[];
}

export const startCrmWorld = async (options: WorldOptions = {}) => {
  const world = await startKommoWorld(options);
  await world.install();
  const account = await world.stack.accounts.getAccount('acme');
  const secret = account?.webhookSecrets[0]?.secret ?? '';
  let n = 0;
  const send = async (event: CallEvent, webhookId = `msg_${++n}_${event.call.id}`) => {
    const body = JSON.stringify(event);
    // Signed at the test's time: the stack verifies the timestamp against its own (shifted) clock.
    const now = Date.now() + world.time.offsetMs;
    const headers = signWebhook(secret, webhookId, Math.floor(now / 1000), body);
    const res = await fetch(`${world.stack.url}/webhooks/acme`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
    });
    await res.arrayBuffer();
    return res.status;
  };
  const event = (
    type: CallEvent['type'] | 'call.recording',
    spec: CallSpec,
    extra: Partial<CallEvent['call']> = {},
  ): CallEvent =>
    (type === 'call.recording'
      ? {
          version: 1,
          type,
          call: { id: spec.id, ...extra },
          occurredAt: new Date(Date.now() + world.time.offsetMs).toISOString(),
        }
      : {
          version: 1,
          type,
          call: {
            id: spec.id,
            direction: spec.direction ?? 'inbound',
            from: spec.direction === 'outbound' ? '+15557654321' : (spec.from ?? KNOWN),
            to: spec.direction === 'outbound' ? (spec.from ?? KNOWN) : '+15557654321',
            ...extra,
          },
          agents: { users: spec.users ?? [202] },
          occurredAt: new Date(Date.now() + world.time.offsetMs).toISOString(),
        }) as CallEvent;
  /** A whole call: ringing, answered or not, ended. */
  const call = async (spec: CallSpec, answered: boolean, extra: Partial<CallEvent['call']> = {}) => {
    await send(event('call.ringing', spec));
    if (answered) await send(event('call.answered', spec));
    return send(event('call.ended', spec, { outcome: answered ? 'answered' : 'missed', ...extra }));
  };
  return { world, send, event, call, secret };
};

export type CrmWorld = Awaited<ReturnType<typeof startCrmWorld>>;

export const entriesOf = (world: KommoWorld, uniq: string) =>
  world.kommo.written.calls.filter((c) => c.body.uniq === uniq);
