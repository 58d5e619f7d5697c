import { describe, expect, it } from 'vitest';
import { parseCallEvent, parseClientMessage } from '../../lambdas/core/protocol';

const valid = {
  version: 1,
  type: 'call.ringing',
  call: { id: 'c-1', direction: 'inbound', from: '+1 (555) 123-4567', to: '101' },
  agents: { extensions: ['101'] },
  occurredAt: '2026-11-21T10:00:00.000Z',
};

describe('CallEvent schema', () => {
  it('accepts a valid event', () => {
    expect(parseCallEvent(valid)).toEqual({ ok: true, value: valid });
  });

  it.each([
    [
      'markup in a caller number',
      { call: { ...valid.call, from: '<img src=x onerror=alert(1)>' } },
      'call.from',
    ],
    ['an unknown type', { type: 'call.held' }, 'type'],
    ['a negative duration', { call: { ...valid.call, duration: -1 } }, 'call.duration'],
    ['a fractional duration', { call: { ...valid.call, duration: 1.5 } }, 'call.duration'],
    [
      'a javascript: recording link',
      { call: { ...valid.call, recordingUrl: 'javascript:alert(1)' } },
      'call.recordingUrl',
    ],
    [
      'a recording link that breaks out of an attribute',
      { call: { ...valid.call, recordingUrl: 'https://pbx/r.mp3"><img src=x onerror=alert(1)>' } },
      'call.recordingUrl',
    ],
    [
      'a recording link new URL() would rewrite',
      { call: { ...valid.call, recordingUrl: 'https://PBX.example.com/a b.mp3' } },
      'call.recordingUrl',
    ],
    [
      'a plain http recording link',
      { call: { ...valid.call, recordingUrl: 'http://pbx.example.com/r.mp3' } },
      'call.recordingUrl',
    ],
    ['an extra field', { extra: true }, 'extra'],
    ['a wrong version', { version: 2 }, 'version'],
    ['a non-ISO timestamp', { occurredAt: 'yesterday' }, 'occurredAt'],
    ['user ids that are not integers', { agents: { users: ['7'] } }, 'agents.users.0'],
  ])('rejects %s, naming the field', (_label, patch, field) => {
    const result = parseCallEvent({ ...valid, ...patch });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.issues.map((i) => i.field)).toContain(field);
  });

  it('names a missing required field', () => {
    const { occurredAt: _, ...rest } = valid;
    const result = parseCallEvent(rest);
    expect(result).toEqual({
      ok: false,
      issues: [{ field: 'occurredAt', message: expect.stringContaining('required field is missing') }],
    });
  });

  it('says which characters an extension may hold, so a space is seen as the problem', () => {
    const result = parseCallEvent({ ...valid, agents: { extensions: ['ext 101'] } });
    expect(result).toEqual({
      ok: false,
      issues: [
        {
          field: 'agents.extensions.0',
          message: 'expected an extension of 1-32 characters from [0-9A-Za-z*#_.-], no spaces',
        },
      ],
    });
  });

  it('rejects arrays and primitives as the document', () => {
    for (const input of [[], 'x', 1, null]) expect(parseCallEvent(input)).toMatchObject({ ok: false });
  });
});

describe('client messages', () => {
  it('accepts ping and resume (with or without after)', () => {
    expect(parseClientMessage({ action: 'ping' }).ok).toBe(true);
    expect(parseClientMessage({ action: 'resume', after: 3 }).ok).toBe(true);
    expect(parseClientMessage({ action: 'resume' }).ok).toBe(true);
  });

  it('rejects unknown actions and bad seq values', () => {
    expect(parseClientMessage({ action: 'subscribe' }).ok).toBe(false);
    expect(parseClientMessage({ action: 'resume', after: -1 }).ok).toBe(false);
    expect(parseClientMessage({ action: 'resume', after: 'x' }).ok).toBe(false);
    expect(parseClientMessage({ action: 'ping', extra: 1 }).ok).toBe(false);
  });

  it('accepts an ack of a pop-up and says what is wrong with a bad one', () => {
    expect(parseClientMessage({ action: 'ack', callId: 'call-1', seq: 7 })).toEqual({
      ok: true,
      value: { action: 'ack', callId: 'call-1', seq: 7 },
    });
    const issue = (input: unknown) => {
      const parsed = parseClientMessage(input);
      return parsed.ok ? undefined : parsed.issues[0];
    };
    expect(issue({ action: 'ack', seq: 7 })).toMatchObject({ field: 'callId' });
    expect(issue({ action: 'ack', callId: '<b>', seq: 7 })?.message).toContain('[A-Za-z0-9._:@-]');
    expect(issue({ action: 'ack', callId: 'call-1' })).toMatchObject({ field: 'seq' });
    expect(issue({ action: 'ack', callId: 'call-1', seq: 1.5 })).toEqual({
      field: 'seq',
      message: 'expected a whole number',
    });
    expect(issue({ action: 'ack', callId: 'call-1', seq: 7, userId: 1 })).toEqual({
      field: 'userId',
      message: 'unknown field; remove it',
    });
    expect(issue({ action: 'subscribe' })?.message).toBe(
      'expected an object with "action": "ping", "resume" or "ack"',
    );
  });
});
