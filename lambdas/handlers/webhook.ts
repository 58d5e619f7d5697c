/**
 * POST /webhooks/{subdomain}: a signed CallEvent from the phone system.
 *
 * Checks run cheapest and least revealing first (size, account, media type, signature), so an unsigned
 * sender learns nothing about the schema. Nothing is stored or pushed until every check has passed.
 */
import { decide } from '../core/call-state';
import { HttpProblem } from '../core/problem';
import { MAX_WEBHOOK_BYTES, parseCallEvent } from '../core/protocol';
import { resolveAudience } from '../core/routing';
import { readWebhookHeaders, verifySignature } from '../core/webhook-signature';
import { deliverCallUpdate } from '../delivery';
import { errorFields } from '../logger';
import {
  type Account,
  type AgentStore,
  activeWebhookSecrets,
  type CallStore,
  type Clock,
  type Connection,
  type ConnectionStore,
  type EventLog,
  type Logger,
  type Pusher,
  type WebhookLog,
  type WebhookResult,
} from '../ports';
import {
  type HttpHandler,
  isJsonContentType,
  json,
  lowerHeaders,
  parseJson,
  rawBody,
  withProblems,
} from './http';

export interface WebhookDeps {
  account: (subdomain: string) => Promise<Account | undefined>;
  store: WebhookLog &
    CallStore &
    AgentStore &
    EventLog &
    Pick<ConnectionStore, 'connectionsOf' | 'removeConnection'>;
  pusher: Pusher;
  clock: Clock;
  logger: Logger;
  pushConcurrency: number;
  /** A claim older than this is presumed dead and may be taken over by the provider's retry. */
  claimLeaseMs?: number;
}

export const makeWebhookHandler = (deps: WebhookDeps): HttpHandler =>
  withProblems(deps.logger, async (event) => {
    const body = rawBody(event);
    if (body.byteLength > MAX_WEBHOOK_BYTES) {
      throw new HttpProblem(
        413,
        'payload_too_large',
        `body is ${body.byteLength} bytes; at most 65536 are accepted`,
      );
    }
    const subdomain = (event.pathParameters?.subdomain ?? '').toLowerCase();
    const account = /^[a-z0-9-]{1,63}$/.test(subdomain) ? await deps.account(subdomain) : undefined;
    if (!account) throw new HttpProblem(404, 'unknown_account', `account "${subdomain}" is not registered`);
    const headers = lowerHeaders(event);
    if (!isJsonContentType(headers['content-type'])) {
      throw new HttpProblem(
        415,
        'unsupported_media_type',
        `content-type: expected application/json, got "${headers['content-type'] ?? ''}"`,
      );
    }
    const now = deps.clock.now();
    const signed = readWebhookHeaders(headers);
    const text = body.toString('utf8');
    verifySignature(text, signed, activeWebhookSecrets(account, now), Math.floor(now / 1000));
    const parsed = parseCallEvent(parseJson(text));
    if (!parsed.ok) {
      throw new HttpProblem(
        400,
        'invalid_body',
        `${parsed.issues[0]?.field}: ${parsed.issues[0]?.message}`,
        parsed.issues,
      );
    }
    const callEvent = parsed.value;

    const claim = await deps.store.claimWebhook(subdomain, signed.id, now, deps.claimLeaseMs ?? 30_000);
    if (claim.kind === 'done') return json(200, { ...claim.result, duplicate: true });
    if (claim.kind === 'busy') {
      throw new HttpProblem(
        409,
        'conflict',
        `webhook-id ${signed.id} is being processed; retry later`,
        undefined,
        {
          'retry-after': '5',
        },
      );
    }

    try {
      const result = await apply(deps, subdomain, signed.id, callEvent, now);
      await deps.store.completeWebhook(subdomain, signed.id, result, now);
      deps.logger.info('call event', {
        subdomain,
        webhookId: signed.id,
        callId: result.callId,
        state: result.state,
        status: result.status,
        users: result.users,
        sockets: result.sockets,
      });
      return json(202, result);
    } catch (error) {
      // Give the id back so the provider's retry is processed instead of being answered "busy".
      await deps.store.releaseWebhook(subdomain, signed.id).catch((releaseError: unknown) => {
        deps.logger.error('could not release webhook claim', {
          webhookId: signed.id,
          ...errorFields(releaseError),
        });
      });
      throw error;
    }
  });

const apply = async (
  deps: WebhookDeps,
  subdomain: string,
  webhookId: string,
  callEvent: Parameters<typeof decide>[1],
  now: number,
): Promise<WebhookResult> => {
  const { store } = deps;
  // The map is needed only to turn extensions into users, or to find everyone.
  const needsMap = !callEvent.agents || (callEvent.agents.extensions?.length ?? 0) > 0;
  // Optimistic concurrency: two events of one call racing each other re-read and decide again.
  for (let attempt = 0; attempt < 5; attempt++) {
    const [current, agentMap] = await Promise.all([
      store.getCall(subdomain, callEvent.call.id),
      needsMap ? store.getAgentMap(subdomain) : Promise.resolve({}),
    ]);
    const audience = resolveAudience(callEvent.agents, agentMap);
    let accountConnections: Connection[] | undefined;
    let users: number[];
    if (audience.kind === 'everyone') {
      accountConnections = await store.connectionsOf(subdomain, 'everyone', now);
      users = [
        ...new Set([...Object.keys(agentMap).map(Number), ...accountConnections.map((c) => c.userId)]),
      ];
    } else {
      users = audience.users;
    }
    const decision = decide(current, callEvent, webhookId, users);
    const unmatched =
      audience.kind === 'users' && audience.unmatchedExtensions.length > 0
        ? { unmatchedExtensions: audience.unmatchedExtensions }
        : {};
    if (decision.kind === 'ignored') {
      return {
        status: 'ignored',
        callId: callEvent.call.id,
        state: current?.state ?? 'unknown',
        sockets: 0,
        users: 0,
        reason: decision.reason,
      };
    }
    const record = decision.record;
    if (!decision.redelivery) {
      // The seq lives on the call record: a retry of this webhook finds it there and pushes the same seq.
      record.seq = await store.nextSeq(subdomain);
      if (!(await store.saveCall(subdomain, record, now))) continue;
    }
    const seq = record.seq ?? (await store.nextSeq(subdomain));
    const tally = await deliverCallUpdate(
      {
        events: store,
        connections: store,
        pusher: deps.pusher,
        logger: deps.logger,
        pushConcurrency: deps.pushConcurrency,
      },
      subdomain,
      decision.record,
      seq,
      now,
      accountConnections,
    );
    return {
      status: 'accepted',
      callId: decision.record.callId,
      state: decision.record.state,
      sockets: tally.sent,
      users: decision.record.users.length,
      ...unmatched,
    };
  }
  throw new HttpProblem(
    503,
    'unavailable',
    `call ${callEvent.call.id} is being updated concurrently; retry`,
    undefined,
    {
      'retry-after': '1',
    },
  );
};
