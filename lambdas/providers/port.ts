/**
 * One phone provider's native webhooks, behind one interface. Adding the next provider (3CX, Aircall,
 * RingCentral …) is one folder implementing `ProviderAdapter` and one line in `index.ts`; the HTTP route,
 * de-duplication, state machine and delivery stay as they are.
 *
 * Adapters are pure: no AWS SDK, no HTTP framework. They see the request as bytes plus the public URL the
 * provider called, and they throw `HttpProblem` (401 for anything unproven, 400 for a payload they cannot
 * read), which the one HTTP edge renders as problem+json.
 *
 * Not yet part of the interface: an `originate` step (click-to-call through the provider's REST API). It
 * needs outbound HTTP and per-provider API credentials beyond the webhook secrets stored today; it will be
 * added here when it is built, not before.
 */
import type { IncomingEvent } from '../core/protocol';
import type { Account, WebhookResult } from '../ports';

export const PROVIDER_NAMES = ['twilio', 'telnyx', 'vonage', 'plivo', 'zadarma'] as const;
export type ProviderName = (typeof PROVIDER_NAMES)[number];

export const isProviderName = (name: string): name is ProviderName =>
  (PROVIDER_NAMES as readonly string[]).includes(name);

/** A provider's webhook as it reached us. */
export interface ProviderRequest {
  method: string;
  /** The URL exactly as the provider called it (scheme, host, stage path, query): several providers sign it. */
  url: string;
  /** Header names in lower case. */
  headers: Readonly<Record<string, string | undefined>>;
  /** The body bytes as sent: signatures cover these, not a re-serialisation. */
  body: Buffer;
  /** Epoch ms when the request arrived: the reference for timestamp tolerances and for events without a time. */
  receivedAt: number;
}

export interface ProviderReply {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

export type Normalized =
  | {
      kind: 'event';
      /** A call's state, or a recording that arrives after the call (`call.recording`). */
      event: IncomingEvent;
      /**
       * What makes a retry of this same notification recognisable: the provider's own event id where it has
       * one, otherwise its natural key (call id + status + sequence). The edge prefixes the provider name.
       */
      dedupeKey: string;
    }
  /** A notification that carries no call state Callbridge shows (DTMF, a recording ready, …), and why. */
  | { kind: 'ignore'; reason: string };

/** What became of a verified notification, for `respond`. */
export type IngestReport =
  | { kind: 'applied'; duplicate: boolean; result: WebhookResult }
  | { kind: 'ignored'; reason: string };

export interface ProviderAdapter<Credentials = unknown, Payload = unknown> {
  readonly name: ProviderName;
  /** Media types this provider posts (compared without parameters). */
  readonly mediaTypes: readonly string[];
  /** This provider's credentials on the account, or undefined when the account has not connected it. */
  credentials(account: Account): Credentials | undefined;
  /**
   * Prove the request came from the provider: signature over the raw body (and URL where the provider signs
   * it), constant-time comparison, and the provider's replay window where it has one.
   * @throws HttpProblem 401
   */
  verify(request: ProviderRequest, credentials: Credentials): void;
  /** Read the verified body into the provider's own shape. @throws HttpProblem 400 naming the field */
  parse(request: ProviderRequest): Payload;
  /** The provider's notification in Callbridge's terms, or why it carries nothing to show. */
  normalize(payload: Payload, request: ProviderRequest): Normalized;
  /** The answer the provider expects; the body never carries personal data. */
  respond(report: IngestReport): ProviderReply;
  /** GET on the webhook URL, for providers that probe it (Zadarma's `zd_echo`); absent means 405. */
  handleGet?(request: ProviderRequest, credentials: Credentials): ProviderReply;
}
