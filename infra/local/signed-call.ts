/** Signs and posts one call webhook, as a phone system would: the demo page, `npm run call` and tests share it. */
import type { CallEvent } from '../../lambdas/core/protocol';
import { signWebhook } from '../../lambdas/core/webhook-signature';

export interface SignedCallInput {
  url: string;
  subdomain: string;
  secret: string;
  type: CallEvent['type'];
  callId: string;
  from: string;
  to: string;
  extensions?: string[];
  users?: number[];
  direction?: 'inbound' | 'outbound';
  extra?: Partial<CallEvent['call']>;
  webhookId?: string;
}

export const buildCallEvent = (input: Omit<SignedCallInput, 'url' | 'subdomain' | 'secret'>): CallEvent => ({
  version: 1,
  type: input.type,
  call: {
    id: input.callId,
    direction: input.direction ?? 'inbound',
    from: input.from,
    to: input.to,
    ...input.extra,
  },
  ...(input.extensions || input.users
    ? {
        agents: {
          ...(input.extensions ? { extensions: input.extensions } : {}),
          ...(input.users ? { users: input.users } : {}),
        },
      }
    : {}),
  occurredAt: new Date().toISOString(),
});

export const sendSignedCall = async (input: SignedCallInput) => {
  const body = JSON.stringify(buildCallEvent(input));
  const id = input.webhookId ?? `msg_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  const res = await fetch(`${input.url.replace(/\/+$/, '')}/webhooks/${input.subdomain}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...signWebhook(input.secret, id, Math.floor(Date.now() / 1000), body),
    },
    body,
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON: show it as it came.
  }
  return { status: res.status, body: parsed, webhookId: id };
};
