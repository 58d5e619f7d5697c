/** The real local stack with acme connected to all five providers, and a way to post to them. */

import { connectProvider } from '../../lambdas/core/accounts';
import type { CallMessage } from '../../lambdas/core/protocol';
import { sleep, startTestStack, type TestSocket } from '../helpers/stack';
import { telnyxKeys } from './signers';

export const CREDENTIALS = {
  twilio: { authToken: '9f86d081884c7d659a2feaa0c55ad015' },
  vonage: { signatureSecret: 'vonage-signature-secret-0123456789' },
  plivo: { authToken: 'ZmFjZTg0ZDQ2NzE0M2E4N2I0NTI4ZjQ2NmE2MmJi' },
  zadarma: { apiKey: 'a248a6a984459935b569', apiSecret: '8a8e91d214fb728889c7' },
};

export const startProviderStack = async () => {
  const t = await startTestStack();
  const telnyx = telnyxKeys();
  let account = await t.stack.accounts.getAccount('acme');
  if (!account) throw new Error('acme missing');
  account = connectProvider(account, 'twilio', CREDENTIALS.twilio);
  account = connectProvider(account, 'telnyx', { publicKey: telnyx.publicKey });
  account = connectProvider(account, 'vonage', CREDENTIALS.vonage);
  account = connectProvider(account, 'plivo', CREDENTIALS.plivo);
  account = connectProvider(account, 'zadarma', CREDENTIALS.zadarma);
  await t.stack.accounts.putAccount(account);
  // User 7 answers extension 101 (Zadarma's internal number) and the SIP/client identity "alice".
  await t.stack.state.putAgentMap('acme', { '7': '101', '8': 'alice', '9': '102' }, 1, Date.now());

  const url = (provider: string, subdomain = 'acme') => `${t.stack.url}/webhooks/${subdomain}/${provider}`;

  const post = async (target: string, body: string, headers: Record<string, string>, contentType: string) => {
    const res = await fetch(target, {
      method: 'POST',
      headers: { 'content-type': contentType, ...headers },
      body,
    });
    const text = await res.text();
    return {
      status: res.status,
      headers: res.headers,
      text,
      json: () => JSON.parse(text) as Record<string, unknown>,
    };
  };

  return { ...t, url, post, telnyxPrivateKey: telnyx.privateKey, telnyxPublicKey: telnyx.publicKey };
};

export type ProviderStack = Awaited<ReturnType<typeof startProviderStack>>;

/** The states a socket saw for one call, in order. */
export const statesOf = (socket: TestSocket, callId: string) =>
  socket.messages.flatMap((m) => (m.type === 'call' && m.view.call.id === callId ? [m.view.state] : []));

export const lastView = (socket: TestSocket, callId: string) =>
  socket.messages.filter((m): m is CallMessage => m.type === 'call' && m.view.call.id === callId).at(-1)
    ?.view;

/** Give a wrongly accepted push time to arrive before asserting that none did. */
export const settle = () => sleep(150);
