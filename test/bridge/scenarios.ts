/**
 * The eight recorded calls and what Callbridge must hear of each: the CallEvent sequence (type, call id,
 * direction, agents, outcome) the bridge must produce, whatever path the events take (tracker alone, or AMI
 * socket → bridge → outbox → HTTP → backend).
 */
import type { CallEvent } from '../../lambdas/core/protocol';

export interface ExpectedEvent {
  type: CallEvent['type'];
  id: string;
  direction: 'inbound' | 'outbound';
  from: string;
  to: string;
  agents: string[];
  outcome?: string;
}

export interface Scenario {
  file: string;
  /** Deployment settings this PBX needs (its trunk and the context where outside calls enter). */
  env: Record<string, string>;
  expected: ExpectedEvent[];
}

const cacofonisk = { BRIDGE_TRUNKS: 'voipgrid-siproute-docker', BRIDGE_INBOUND_CONTEXTS: 'voipgrid_in' };

const seq = (
  id: string,
  direction: 'inbound' | 'outbound',
  from: string,
  to: string,
  steps: [CallEvent['type'], string[], string?][],
): ExpectedEvent[] =>
  steps.map(([type, agents, outcome]) => ({
    type,
    id,
    direction,
    from,
    to,
    agents,
    ...(outcome ? { outcome } : {}),
  }));

export const SCENARIOS: Record<string, Scenario> = {
  'inbound answered': {
    file: 'inbound-answered.ami',
    env: {},
    expected: seq('1770888534.43', 'inbound', '21', '1986', [
      ['call.ringing', ['1986']],
      ['call.answered', ['1986']],
      ['call.ended', ['1986'], 'answered'],
    ]),
  },
  missed: {
    file: 'missed.ami',
    env: {},
    expected: seq('1770888559.46', 'inbound', '1986', '21', [
      ['call.ringing', ['21']],
      ['call.ended', ['21'], 'missed'],
    ]),
  },
  'ring group, nobody answers': {
    file: 'ring-group-missed.ami',
    env: {},
    expected: seq('1770888635.49', 'inbound', '1986', '666', [
      ['call.ringing', ['11', '12', '21', '41', '42', '51']],
      ['call.ended', ['11', '12', '21', '41', '42', '51'], 'missed'],
    ]),
  },
  busy: {
    file: 'busy.ami',
    env: cacofonisk,
    expected: seq('195176c06ab8-1529936241.98', 'inbound', '201', '202', [
      ['call.ringing', ['150010002']],
      ['call.ended', ['150010002'], 'busy'],
    ]),
  },
  'ring group, second member answers': {
    file: 'ring-group.ami',
    env: cacofonisk,
    expected: seq('195176c06ab8-1529936598.168', 'inbound', '201', '401', [
      ['call.ringing', ['150010003', '150010002']],
      ['call.answered', ['150010002']],
      ['call.ended', ['150010002'], 'answered'],
    ]),
  },
  queue: {
    file: 'queue.ami',
    env: cacofonisk,
    expected: seq('195176c06ab8-1529939196.518', 'inbound', '+31150010001', '+31150010004', [
      ['call.ringing', ['150010002', '150010003']],
      ['call.answered', ['150010002']],
      ['call.ended', ['150010002'], 'answered'],
    ]),
  },
  'blind transfer': {
    file: 'blind-transfer.ami',
    env: cacofonisk,
    expected: [
      ...seq('07b796be1962-1529998959.65', 'inbound', '201', '202', [
        ['call.ringing', ['150010002']],
        ['call.answered', ['150010002']],
        ['call.ended', ['150010002'], 'answered'],
      ]),
      ...seq('07b796be1962-1529998959.65:t1', 'inbound', '201', '202', [
        ['call.ringing', ['150010003']],
        ['call.answered', ['150010003']],
        ['call.ended', ['150010003'], 'answered'],
      ]),
    ],
  },
  'attended transfer': {
    file: 'attended-transfer.ami',
    env: cacofonisk,
    expected: [
      ...seq('195176c06ab8-1529941338.663', 'inbound', '201', '202', [
        ['call.ringing', ['150010002']],
        ['call.answered', ['150010002']],
      ]),
      ...seq('195176c06ab8-1529941342.690', 'inbound', '202', '203', [
        ['call.ringing', ['150010003']],
        ['call.answered', ['150010003']],
      ]),
      ...seq('195176c06ab8-1529941338.663', 'inbound', '201', '202', [
        ['call.ended', ['150010002'], 'answered'],
      ]),
      ...seq('195176c06ab8-1529941338.663:t1', 'inbound', '201', '202', [['call.answered', ['150010003']]]),
      ...seq('195176c06ab8-1529941342.690', 'inbound', '202', '203', [
        ['call.ended', ['150010003'], 'answered'],
      ]),
      ...seq('195176c06ab8-1529941338.663:t1', 'inbound', '201', '202', [
        ['call.ended', ['150010003'], 'answered'],
      ]),
    ],
  },
  outbound: {
    file: 'outbound.ami',
    env: cacofonisk,
    expected: [
      ...seq('195176c06ab8-1529936734.287', 'outbound', '+31260010001', '+31150010001', [
        ['call.ringing', ['260010001']],
      ]),
      ...seq('195176c06ab8-1529936734.297', 'inbound', '+31260010001', '+31150010001', [
        ['call.ringing', ['150010001']],
        ['call.answered', ['150010001']],
      ]),
      ...seq('195176c06ab8-1529936734.287', 'outbound', '+31260010001', '+31150010001', [
        ['call.answered', ['260010001']],
        ['call.ended', ['260010001'], 'answered'],
      ]),
      ...seq('195176c06ab8-1529936734.297', 'inbound', '+31260010001', '+31150010001', [
        ['call.ended', ['150010001'], 'answered'],
      ]),
    ],
  },
};

/** What a test compares: the parts of a CallEvent the scenario fixes. */
export const summarise = (event: CallEvent): ExpectedEvent => ({
  type: event.type,
  id: event.call.id,
  direction: event.call.direction,
  from: event.call.from,
  to: event.call.to,
  agents: event.agents?.extensions ?? [],
  ...(event.call.outcome ? { outcome: event.call.outcome } : {}),
});

/** The expected events of a scenario replayed under an Asterisk `systemname` (see loadTranscript). */
export const withSystemName = (expected: readonly ExpectedEvent[], systemName: string): ExpectedEvent[] =>
  expected.map((e) => ({ ...e, id: `${systemName}${e.id}` }));
