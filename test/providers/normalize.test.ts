/** The mapping tables of each adapter, one provider value at a time (no network, no store). */
import { describe, expect, it } from 'vitest';
import { type CallEvent, parseCallEvent } from '../../lambdas/core/protocol';
import { PROVIDERS } from '../../lambdas/providers';
import { agentIdentity, displayAddress, partiesOf } from '../../lambdas/providers/parties';
import type { ProviderName, ProviderRequest } from '../../lambdas/providers/port';
import { plivo } from './fixtures/plivo';
import { telnyx } from './fixtures/telnyx';
import { twilio } from './fixtures/twilio';
import { vonage } from './fixtures/vonage';
import { zadarma } from './fixtures/zadarma';

const AT = Date.parse('2026-11-22T00:00:00Z');

const normalize = (provider: ProviderName, body: string, headers: Record<string, string> = {}) => {
  const request: ProviderRequest = {
    method: 'POST',
    url: 'https://x/y',
    headers,
    body: Buffer.from(body),
    receivedAt: AT,
  };
  const adapter = PROVIDERS[provider];
  const result = adapter.normalize(adapter.parse(request), request);
  if (result.kind === 'event') expect(parseCallEvent(result.event)).toMatchObject({ ok: true });
  return result;
};

/** A call's state (not a late recording) that the provider's notification normalises to. */
const eventOf = (provider: ProviderName, body: string): CallEvent => {
  const result = normalize(provider, body);
  if (result.kind !== 'event') throw new Error(`ignored: ${result.reason}`);
  if (result.event.type === 'call.recording') throw new Error('a recording, not a call state');
  return result.event;
};

describe('agent identities', () => {
  it.each([
    ['client:alice', 'alice'],
    ['sip:101@pbx.example.com', '101'],
    ['<sip:alice150105094929@phone.plivo.com>;tag=6U9J4', 'alice150105094929'],
    ['sips:bob%2Ejones@example.com;transport=tls', 'bob.jones'],
    ['+15551234567', undefined],
    ['client:', undefined],
    ['sip:x y@example.com', undefined],
    [undefined, undefined],
  ])('%s → %s', (address, extension) => {
    expect(agentIdentity(address)).toBe(extension);
  });

  it('shows addresses without SIP parameters or markup, and names an anonymous caller', () => {
    expect(displayAddress('<sip:101@pbx.example.com;transport=tls>')).toBe('sip:101@pbx.example.com');
    expect(displayAddress('<b>x</b>')).toBe('bxb');
    expect(displayAddress('')).toBe('anonymous');
  });

  it('takes the direction from where the agent is', () => {
    expect(partiesOf('client:alice', '+15551234567', 'inbound')).toMatchObject({
      direction: 'outbound',
      agents: { extensions: ['alice'] },
    });
    expect(partiesOf('+15551234567', 'sip:101@pbx', 'outbound')).toMatchObject({
      direction: 'inbound',
      agents: { extensions: ['101'] },
    });
    expect(partiesOf('+1555', '+1666', 'outbound').agents).toBeUndefined();
  });
});

describe('Twilio', () => {
  const sid = 'CA00000000000000000000000000000001';
  it.each([
    ['busy', 'busy'],
    ['no-answer', 'missed'],
    ['canceled', 'missed'],
    ['failed', 'failed'],
  ])('CallStatus %s ends the call as %s', (status, outcome) => {
    const body = new URLSearchParams(twilio.noAnswer(sid));
    body.set('CallStatus', status);
    expect(eventOf('twilio', body.toString()).call.outcome).toBe(outcome);
  });

  it('reports a machine answer as voicemail', () => {
    const body = new URLSearchParams(twilio.completed(sid, false));
    body.set('AnsweredBy', 'machine_end_beep');
    expect(eventOf('twilio', body.toString()).call.outcome).toBe('voicemail');
  });

  it('keys a delivery on the idempotency token when Twilio sends one, else on sid, status and sequence', () => {
    expect(normalize('twilio', twilio.ringing(sid), { 'i-twilio-idempotency-token': 'tok-1' })).toMatchObject(
      {
        dedupeKey: 'idem:tok-1',
      },
    );
    expect(normalize('twilio', twilio.ringing(sid))).toMatchObject({ dedupeKey: `${sid}:ringing:1` });
  });

  it('uses Twilio’s Timestamp to time the event', () => {
    expect(eventOf('twilio', twilio.ringing(sid)).occurredAt).toBe('2018-03-25T09:52:21.000Z');
  });
});

describe('Telnyx', () => {
  it.each([
    ['user_busy', 'busy'],
    ['timeout', 'missed'],
    ['originator_cancel', 'missed'],
    ['call_rejected', 'missed'],
    ['not_found', 'failed'],
    ['normal_clearing', undefined],
  ])('hangup_cause %s → %s', (cause, outcome) => {
    expect(eventOf('telnyx', telnyx.hangup('e', 's', { hangup_cause: cause })).call.outcome).toBe(outcome);
  });

  it('calls an outgoing leg from a SIP credential outbound, with the agent named', () => {
    const event = eventOf(
      'telnyx',
      telnyx.initiated('e', 's', { direction: 'outgoing', from: 'sip:alice@sip.telnyx.com' }),
    );
    expect(event).toMatchObject({ call: { direction: 'outbound' }, agents: { extensions: ['alice'] } });
  });
});

describe('Vonage', () => {
  it.each([
    ['busy', 'busy'],
    ['cancelled', 'missed'],
    ['unanswered', 'missed'],
    ['timeout', 'missed'],
    ['rejected', 'missed'],
    ['failed', 'failed'],
  ])('status %s → %s', (status, outcome) => {
    const body = { ...JSON.parse(vonage.ringing('u', 'CON-1')), status };
    expect(eventOf('vonage', JSON.stringify(body)).call.outcome).toBe(outcome);
  });

  it('ignores statuses without call state (machine detection, transfers)', () => {
    const body = { ...JSON.parse(vonage.ringing('u', 'CON-1')), status: 'human' };
    expect(normalize('vonage', JSON.stringify(body))).toMatchObject({ kind: 'ignore' });
  });
});

describe('Plivo', () => {
  it.each([
    ['busy', 'busy'],
    ['no-answer', 'missed'],
    ['timeout', 'missed'],
    ['cancel', 'missed'],
    ['failed', 'failed'],
  ])('hangup CallStatus %s → %s', (status, outcome) => {
    expect(eventOf('plivo', plivo.hangup('u-1', status, 'X', '0')).call.outcome).toBe(outcome);
  });

  it('times a hangup by Plivo’s EndTime (UTC)', () => {
    expect(eventOf('plivo', plivo.hangup('u-1', 'completed', 'NORMAL_CLEARING', '9')).occurredAt).toBe(
      '2024-10-25T14:14:24.000Z',
    );
  });
});

describe('Zadarma', () => {
  it.each([
    ['answered', 'answered'],
    ['busy', 'busy'],
    ['cancel', 'missed'],
    ['no answer', 'missed'],
    ['failed', 'failed'],
    ['no money', 'failed'],
    ['line limit', 'failed'],
  ])('disposition %s → %s', (disposition, outcome) => {
    expect(eventOf('zadarma', zadarma.end('in_1', disposition, '0')).call.outcome).toBe(outcome);
  });

  it('rings on NOTIFY_INTERNAL (which names the extension), not on NOTIFY_START', () => {
    expect(normalize('zadarma', zadarma.start('in_1'))).toMatchObject({ kind: 'ignore' });
    expect(eventOf('zadarma', zadarma.internal('in_1', '104'))).toMatchObject({
      type: 'call.ringing',
      agents: { extensions: ['104'] },
    });
  });

  it('keys each notification on event, call, start time and extension', () => {
    expect(normalize('zadarma', zadarma.internal('in_1', '104'))).toMatchObject({
      dedupeKey: 'NOTIFY_INTERNAL:in_1:2026-11-21 14:03:12:104',
    });
  });
});

describe('payload errors', () => {
  it('name the field and what was expected, never the value received', () => {
    const request: ProviderRequest = {
      method: 'POST',
      url: 'https://x/y',
      headers: {},
      body: Buffer.from(JSON.stringify({ conversation_uuid: 'CON-1', from: 447700900123 })),
      receivedAt: AT,
    };
    let detail = '';
    try {
      PROVIDERS.vonage.parse(request);
    } catch (error) {
      detail = String((error as Error).message);
    }
    expect(detail).toMatch(/^from: expected /);
    expect(detail).not.toContain('447700900123');
  });
});

describe('an answer proven by the end event itself', () => {
  it('counts a Vonage completed leg with a duration as answered, even without its answered event', () => {
    expect(eventOf('vonage', vonage.completed('u', 'CON-9')).call.outcome).toBe('answered');
    const zero = { ...JSON.parse(vonage.completed('u', 'CON-9')), duration: '0' };
    expect(eventOf('vonage', JSON.stringify(zero)).call.outcome).toBeUndefined();
  });

  it('counts a Plivo completed call with an AnswerTime as answered', () => {
    expect(eventOf('plivo', plivo.hangup('u-2', 'completed', 'NORMAL_CLEARING', '9')).call.outcome).toBe(
      'answered',
    );
    expect(
      eventOf('plivo', plivo.hangup('u-2', 'completed', 'NORMAL_CLEARING', '0')).call.outcome,
    ).toBeUndefined();
  });
});
