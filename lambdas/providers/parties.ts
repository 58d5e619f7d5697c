/**
 * Caller, callee and the agent's extension, from the addresses providers use: E.164 numbers, SIP URIs
 * (`sip:101@pbx.example.com;transport=tls`) and Twilio client identities (`client:alice`).
 */
import type { Agents, Call } from '../core/protocol';
import { toCanonicalHttpsUrl } from '../core/url';

const EXTENSION = /^[0-9A-Za-z*#_.-]{1,32}$/;

/** The agent behind an address: a `client:` identity or a SIP URI's user part; undefined for a plain number. */
export const agentIdentity = (address: string | undefined): string | undefined => {
  if (!address) return undefined;
  const trimmed = address.trim().replace(/^<|>$/g, '');
  const match = /^(?:client:(.+)|sips?:([^@;]+)@.*)$/i.exec(trimmed);
  const user = match?.[1] ?? match?.[2];
  if (!user) return undefined;
  const decoded = safeDecode(user);
  return EXTENSION.test(decoded) ? decoded : undefined;
};

const safeDecode = (text: string): string => {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
};

/**
 * An address as the widget shows it: SIP parameters and angle brackets dropped, and only the characters our
 * protocol allows in a phone field (which rules out markup). Anonymous callers arrive empty.
 */
export const displayAddress = (address: string | undefined): string => {
  const cleaned = (address ?? '')
    .trim()
    .replace(/^<|>$/g, '')
    .replace(/;.*$/, '')
    .replace(/[^0-9A-Za-z+*#.@:_ ()-]/g, '')
    .slice(0, 64)
    .trim();
  return cleaned || 'anonymous';
};

export interface Parties {
  direction: Call['direction'];
  from: string;
  to: string;
  /** Absent when no agent can be named: the event then rings every agent of the account. */
  agents?: Agents;
}

/**
 * Direction from the business's point of view. An agent identity on the called side means an agent is
 * being rung (inbound, even on a provider's "outbound-dial" child leg); on the calling side, an agent placed
 * the call. Otherwise the provider's own direction decides.
 */
export const partiesOf = (
  from: string | undefined,
  to: string | undefined,
  providerDirection: Call['direction'],
  extraAgent?: string,
): Parties => {
  const fromAgent = agentIdentity(from);
  const toAgent = agentIdentity(to);
  let direction = providerDirection;
  if (toAgent && !fromAgent) direction = 'inbound';
  else if (fromAgent && !toAgent) direction = 'outbound';
  const agent =
    (extraAgent && EXTENSION.test(extraAgent) ? extraAgent : undefined) ??
    (direction === 'inbound' ? toAgent : fromAgent);
  return {
    direction,
    from: displayAddress(from),
    to: displayAddress(to),
    ...(agent ? { agents: { extensions: [agent] } } : {}),
  };
};

/** A provider timestamp as ISO 8601, or the arrival time when it is absent or unreadable. */
export const isoTime = (value: string | undefined, fallbackMs: number): string => {
  const parsed = value ? Date.parse(value) : Number.NaN;
  return new Date(Number.isFinite(parsed) ? parsed : fallbackMs).toISOString();
};

/** A whole number of seconds from a provider string, or undefined. */
export const seconds = (value: string | number | undefined | null): number | undefined => {
  if (value === undefined || value === null || value === '') return undefined;
  const n = Number(value);
  return Number.isInteger(n) && n >= 0 && n <= 7 * 24 * 3600 ? n : undefined;
};

/** A link the widget may hand to Kommo: the https URL in canonical form (see core/url.ts), or undefined. */
export const httpUrl = toCanonicalHttpsUrl;

/**
 * A provider's call id in the characters our protocol allows ([A-Za-z0-9._:@-]; every documented id fits):
 * anything else becomes `.`, so an unexpected character cannot turn a whole provider's calls into errors.
 */
export const callIdOf = (raw: string): string => raw.replace(/[^A-Za-z0-9._:@-]/g, '.').slice(0, 128);
