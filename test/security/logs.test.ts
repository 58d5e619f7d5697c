/**
 * "Secrets and personal data never in logs": every line every function logs during a whole call, a resume, an
 * ack, a recording, rejected input and the CRM worker's run is captured, and none may carry the caller's or
 * callee's number, the webhook secret or a ticket.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogFields, Logger } from '../../lambdas/ports';
import { callEvent, startTestStack, TestSocket, type TestStack } from '../helpers/stack';

const lines: string[] = [];
const capture: Logger = {
  info: (message: string, fields?: LogFields) => lines.push(JSON.stringify({ message, ...fields })),
  warn: (message: string, fields?: LogFields) => lines.push(JSON.stringify({ message, ...fields })),
  error: (message: string, fields?: LogFields) => lines.push(JSON.stringify({ message, ...fields })),
};

let t: TestStack;
beforeAll(async () => {
  t = await startTestStack({ logger: capture });
});
afterAll(() => t.stop());

describe('what the functions log', () => {
  it('never carries a phone number, the webhook secret or a ticket, through a whole call', async () => {
    const { url, ticket } = await t.ticket(77);
    const socket = await TestSocket.open(url);
    const from = '+15550001111';
    const ringing = callEvent('call.ringing', { users: [77], from });
    expect((await t.webhook(ringing)).status).toBe(202);
    const pushed = await socket.next('call');
    socket.send({ action: 'ack', callId: ringing.call.id, seq: pushed.seq });
    await t.webhook({ ...callEvent('call.answered', { id: ringing.call.id, users: [77], from }) });
    await t.webhook({
      ...callEvent('call.ended', { id: ringing.call.id, users: [77], from }),
      call: { ...ringing.call, outcome: 'answered', duration: 12 },
    });
    await t.webhook({
      version: 1,
      type: 'call.recording',
      call: { id: ringing.call.id, recordingUrl: 'https://pbx.example/r/1.mp3' },
      occurredAt: new Date().toISOString(),
    } as never);
    socket.send({ action: 'resume' });
    await socket.next('snapshot');
    // Rejected input that carries a number: a bad schema and a bad signature.
    await t.webhook({ ...ringing, call: { ...ringing.call, from: `${from}<b>` } });
    await t.webhook(ringing, { secret: 'whsec_c29tZW9uZSBlbHNlJ3Mgc2VjcmV0IGtleQ==' });
    await t.stack.crm.drain();
    socket.close();

    // The check is live: the functions did log this call.
    expect(lines.some((l) => l.includes(ringing.call.id))).toBe(true);
    const secret = t.acme.webhookSecrets[0]?.secret ?? 'missing';
    for (const line of lines) {
      expect(line).not.toContain('5550001111');
      expect(line).not.toContain('5557654321');
      expect(line).not.toContain(secret);
      expect(line).not.toContain(secret.replace(/^whsec_/, ''));
      expect(line).not.toContain(ticket);
    }
  });
});
