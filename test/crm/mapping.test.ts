/** The pure mapping from a call to what Kommo's APIs take (kommo-server.md §2–§5). */

import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import type { CallRecord } from '../../lambdas/core/call-state';
import {
  CALL_STATUS,
  callEntryOf,
  callStatusOf,
  isMissedInbound,
  otherParty,
  phoneKey,
  taskDueOf,
  taskEntityType,
  taskResponsibleOf,
  unsortedLeadOf,
} from '../../lambdas/crm/call-entry';
import { CrmSettingsPatchSchema, DEFAULT_CRM_SETTINGS, mergeSettings } from '../../lambdas/crm/settings';

const record = (overrides: Partial<CallRecord> = {}, call: Partial<CallRecord['call']> = {}): CallRecord => ({
  callId: 'c-1',
  state: 'ended',
  call: {
    id: 'c-1',
    direction: 'inbound',
    from: '+1 555 123 4567',
    to: '+1 555 765 4321',
    startedAt: '2026-01-31T12:00:00Z',
    endedAt: '2026-01-31T12:01:00Z',
    outcome: 'answered',
    duration: 50,
    ...call,
  },
  occurredAt: '2026-01-31T12:01:00Z',
  users: [202, 201],
  appliedBy: 'w',
  version: 3,
  ...overrides,
});

describe('call → Kommo', () => {
  it('maps each outcome to a call_status', () => {
    expect(callStatusOf(record())).toBe(CALL_STATUS.conversation);
    expect(callStatusOf(record({}, { outcome: 'missed' }))).toBe(6);
    expect(callStatusOf(record({}, { outcome: 'busy' }))).toBe(7);
    expect(callStatusOf(record({}, { outcome: 'voicemail' }))).toBe(1);
    expect(callStatusOf(record({}, { outcome: 'failed' }))).toBe(3);
    expect(callStatusOf(record({}, { outcome: undefined }))).toBe(6);
  });

  it('the other party is the caller inbound and the callee outbound', () => {
    expect(otherParty(record())).toBe('+1 555 123 4567');
    expect(otherParty(record({}, { direction: 'outbound' }))).toBe('+1 555 765 4321');
    expect(phoneKey('+1 (555) 123-4567')).toBe('5551234567');
  });

  it('builds an entry with who answered, when it started, the recording, and no nulls', () => {
    const entry = callEntryOf(
      record({ answeredBy: [201] }, { recordingUrl: 'https://r/1' }),
      DEFAULT_CRM_SETTINGS,
      '0',
      0,
    );
    expect(entry).toEqual({
      direction: 'inbound',
      uniq: 'c-1',
      duration: 50,
      source: 'Callbridge',
      phone: '+1 555 123 4567',
      link: 'https://r/1',
      call_status: 4,
      call_responsible: 201,
      created_by: 201,
      created_at: Date.parse('2026-01-31T12:00:00Z') / 1000,
      request_id: '0',
    });
    const missed = callEntryOf(
      record({ users: [] }, { outcome: 'missed', duration: 12 }),
      DEFAULT_CRM_SETTINGS,
      '1',
      0,
    );
    expect(missed.duration).toBe(0);
    expect('link' in missed).toBe(false);
    expect('call_responsible' in missed).toBe(false);
    expect(Object.values(missed)).not.toContain(null);
  });

  it('an incoming lead carries the caller in both from and phone and a stable source_uid', () => {
    const a = unsortedLeadOf(record(), DEFAULT_CRM_SETTINGS, '0', 0);
    expect(a.metadata.from).toBe('+1 555 123 4567');
    expect(a.metadata.phone).toBe('+1 555 123 4567');
    expect(a.source_uid).toBe(unsortedLeadOf(record(), DEFAULT_CRM_SETTINGS, '3', 99).source_uid);
  });

  it('missed means inbound, ended, not answered', () => {
    expect(isMissedInbound(record({}, { outcome: 'missed' }))).toBe(true);
    expect(isMissedInbound(record({}, { outcome: 'busy' }))).toBe(true);
    expect(isMissedInbound(record())).toBe(false);
    expect(isMissedInbound(record({}, { outcome: 'missed', direction: 'outbound' }))).toBe(false);
    expect(isMissedInbound(record({ state: 'ringing' }, { outcome: undefined }))).toBe(false);
  });

  it('a task goes to the contact’s user, else the rung agent, else the duty user; due after the delay', () => {
    const settings = { ...DEFAULT_CRM_SETTINGS, dutyUserId: 299 };
    expect(taskResponsibleOf(205, record(), settings)).toBe(205);
    expect(taskResponsibleOf(undefined, record(), settings)).toBe(202);
    expect(taskResponsibleOf(undefined, record({ users: [] }), settings)).toBe(299);
    expect(taskDueOf(record(), { taskDelayMinutes: 15 }, 0)).toBe(
      Date.parse('2026-01-31T12:01:00Z') / 1000 + 900,
    );
    expect(taskEntityType('lead')).toBe('leads');
    expect(taskEntityType('contact')).toBe('contacts');
  });
});

describe('settings', () => {
  it('validates a patch and merges it; null removes the duty user', () => {
    expect(v.safeParse(CrmSettingsPatchSchema, { taskDelayMinutes: 1.5 }).success).toBe(false);
    expect(v.safeParse(CrmSettingsPatchSchema, { bell: 'yes' }).success).toBe(false);
    expect(v.safeParse(CrmSettingsPatchSchema, { unknown: 1 }).success).toBe(false);
    expect(v.safeParse(CrmSettingsPatchSchema, { sourceName: '  ' }).success).toBe(false);
    const withDuty = mergeSettings(DEFAULT_CRM_SETTINGS, { dutyUserId: 7, tasks: false });
    expect(withDuty).toMatchObject({ dutyUserId: 7, tasks: false, leads: true });
    expect('dutyUserId' in mergeSettings(withDuty, { dutyUserId: null })).toBe(false);
  });
});
