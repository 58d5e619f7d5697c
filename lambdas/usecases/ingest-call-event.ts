/**
 * Ingest one call event, whoever sent it: our own Standard Webhooks route, a provider's native webhook or the
 * Asterisk bridge. The edge has already verified the sender and validated the event; this claims the sender's
 * de-duplication key, moves the call's state forward and delivers the update.
 */

import { type CallRecord, decide } from '../core/call-state';
import { HttpProblem } from '../core/problem';
import type { CallEvent, IncomingEvent } from '../core/protocol';
import { resolveAudience } from '../core/routing';
import { BELL_ACK_SECONDS, type CrmQueue } from '../crm/ports';
import { deliverCallUpdate, PUSH_FIRST_ABOVE_USERS, type PushTally } from '../delivery';
import { errorFields } from '../logger';
import type {
  AgentStore,
  CallIndex,
  CallStore,
  Clock,
  ConnectionStore,
  Logger,
  Metrics,
  Pusher,
  WebhookLog,
  WebhookResult,
} from '../ports';

export interface IngestDeps {
  store: WebhookLog &
    CallStore &
    AgentStore &
    CallIndex &
    Pick<ConnectionStore, 'connectionsOf' | 'removeConnection'>;
  pusher: Pusher;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  pushConcurrency: number;
  /** A claim older than this is presumed dead and may be taken over by the sender's retry. */
  claimLeaseMs?: number;
  /** Where CRM work goes (issue 13); absent: no call reaches Kommo from here. */
  crm?: CrmQueue;
}

/**
 * CRM work for this update, sent before the webhook answers so none is lost, but beside the push so the
 * agents wait for nothing: an ended call is logged; a ringing call gets a bell check delayed by
 * BELL_ACK_SECONDS (the users whose tabs did not acknowledge the pop-up by then get Kommo's bell), and one that
 * reached no socket at all rings the bell at once. Sent again on a redelivery (the first attempt may have
 * failed before sending); the worker's ledger makes the repeat harmless.
 */
const withCrm = async (
  deps: IngestDeps,
  subdomain: string,
  record: CallRecord,
  deliver: () => Promise<PushTally>,
): Promise<PushTally> => {
  const crm = deps.crm;
  if (!crm) return deliver();
  const job = { subdomain, callId: record.callId };
  if (record.state === 'ended') {
    const [tally] = await Promise.all([deliver(), crm.send([{ kind: 'log', ...job }])]);
    return tally;
  }
  if (record.state !== 'ringing' || record.users.length === 0) return deliver();
  // The check does not depend on the push's outcome, so it costs no round trip after it.
  const [tally] = await Promise.all([
    deliver(),
    crm.send([{ kind: 'bell-check', ...job }], { delaySeconds: BELL_ACK_SECONDS }),
  ]);
  if (tally.sent === 0) await crm.send([{ kind: 'bell', ...job }]);
  return tally;
};

export interface IngestInput {
  subdomain: string;
  /** What makes a retry of the same event recognisable: the webhook id, or a provider's natural key. */
  dedupeId: string;
  event: IncomingEvent;
  now: number;
}

export type IngestOutcome = { duplicate: boolean; result: WebhookResult };

export const ingestCallEvent = async (deps: IngestDeps, input: IngestInput): Promise<IngestOutcome> => {
  const { subdomain, dedupeId, event, now } = input;
  // The reads a decision needs run beside the claim rather than after it: a webhook waits for one round
  // trip instead of two. A claim that says "done" or "busy" just drops them (and leaves a seq unused).
  const firstRead = readForDecision(deps.store, subdomain, event);
  firstRead.catch(() => {});
  const claim = await deps.store.claimWebhook(subdomain, dedupeId, now, deps.claimLeaseMs ?? 30_000);
  if (claim.kind === 'done') return { duplicate: true, result: claim.result };
  if (claim.kind === 'busy') {
    throw new HttpProblem(
      409,
      'conflict',
      `webhook-id ${dedupeId} is being processed; retry later`,
      undefined,
      {
        'retry-after': '5',
      },
    );
  }
  try {
    const result = await apply(deps, subdomain, dedupeId, event, now, firstRead);
    await deps.store.completeWebhook(subdomain, dedupeId, result, now);
    deps.logger.info('call event', {
      subdomain,
      webhookId: dedupeId,
      callId: result.callId,
      state: result.state,
      status: result.status,
      users: result.users,
      sockets: result.sockets,
    });
    return { duplicate: false, result };
  } catch (error) {
    // Give the id back so the sender's retry is processed instead of being answered "busy".
    await deps.store.releaseWebhook(subdomain, dedupeId).catch((releaseError: unknown) => {
      deps.logger.error('could not release webhook claim', {
        webhookId: dedupeId,
        ...errorFields(releaseError),
      });
    });
    throw error;
  }
};

interface DecisionInputs {
  current: CallRecord | undefined;
  byExtension: Map<string, number[]>;
  everyone: number[];
  /**
   * A seq taken in the same round trip as the reads, so saving waits for nothing more. Seqs only need to be
   * unique and to grow along one call's updates (see apply); gaps are harmless.
   */
  seq: number;
}

/**
 * Everything deciding an event needs, in one round trip: the call's record, the users its extensions map to
 * (read by key) or, for a ring-all, the account's directory, and a seq.
 */
const readForDecision = async (
  store: IngestDeps['store'],
  subdomain: string,
  incoming: IncomingEvent,
): Promise<DecisionInputs> => {
  const extensions = incoming.type === 'call.recording' ? [] : (incoming.agents?.extensions ?? []);
  const ringAll = incoming.type !== 'call.recording' && !incoming.agents;
  const [current, byExtension, everyone, seq] = await Promise.all([
    store.getCall(subdomain, incoming.call.id),
    extensions.length > 0
      ? store.usersOfExtensions(subdomain, extensions)
      : Promise.resolve(new Map<string, number[]>()),
    ringAll ? store.ringAllUsers(subdomain) : Promise.resolve([]),
    store.nextSeq(subdomain),
  ]);
  return { current, byExtension, everyone, seq };
};

const apply = async (
  deps: IngestDeps,
  subdomain: string,
  webhookId: string,
  incoming: IncomingEvent,
  now: number,
  firstRead: Promise<DecisionInputs>,
): Promise<WebhookResult> => {
  const callEvent: CallEvent =
    incoming.type === 'call.recording'
      ? // Completed once the call is read: a recording amends the call in whatever state it is.
        // It reaches the users already told of the call, nobody else.
        {
          ...incoming,
          type: 'call.ended',
          call: { direction: 'inbound', from: '-', to: '-', ...incoming.call },
          agents: { users: [] },
        }
      : incoming;
  const { store } = deps;
  // Optimistic concurrency: two events of one call racing each other re-read and decide again.
  for (let attempt = 0; attempt < 5; attempt++) {
    const {
      current,
      byExtension,
      everyone,
      seq: takenSeq,
    } = attempt === 0 ? await firstRead : await readForDecision(store, subdomain, incoming);
    if (incoming.type === 'call.recording' && !current) {
      return {
        status: 'ignored',
        callId: callEvent.call.id,
        state: 'unknown',
        sockets: 0,
        users: 0,
        reason: `call ${callEvent.call.id} is unknown; a recording can only be added to a call`,
      };
    }
    if (incoming.type === 'call.recording' && current) {
      // The call's own state and identity (fixed by its first event), plus the recording.
      callEvent.type =
        current.state === 'ringing'
          ? 'call.ringing'
          : current.state === 'answered'
            ? 'call.answered'
            : 'call.ended';
      callEvent.call = { ...current.call, ...incoming.call };
    }
    const audience = resolveAudience(callEvent.agents, byExtension);
    const users = audience.kind === 'everyone' ? everyone : audience.users;
    const decision = decide(current, callEvent, webhookId, users, { addressed: audience.kind === 'users' });
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
    // Users already indexed for this call; a redelivery indexes every recipient again, as the failed
    // attempt may have stopped before doing so.
    let indexed: readonly number[] | undefined = decision.redelivery ? undefined : current?.users;
    if (!decision.redelivery) {
      // The seq lives on the call record: a retry of this webhook finds it there and pushes the same seq.
      // It was taken beside the read, so another event of this call may have saved a later one meanwhile:
      // a call's updates must carry growing seqs, and a fresh one is larger than any taken before.
      record.seq =
        current?.seq !== undefined && takenSeq <= current.seq ? await store.nextSeq(subdomain) : takenSeq;
      // When the server last heard of the call: a call left without news is ended by the resume (see there).
      record.updatedAt = now;
      // Few recipients are indexed beside the save (one round trip for both); the lookup that follows sees
      // both written. A save that loses a race leaves markers the resume ignores (it checks the record's users).
      const newUsers = record.users.filter((u) => !current?.users.includes(u));
      const indexBeside = record.users.length <= PUSH_FIRST_ABOVE_USERS && newUsers.length > 0;
      const [saved] = await Promise.all([
        store.saveCall(subdomain, record, now),
        indexBeside ? store.addCallUsers(subdomain, newUsers, record.callId, now) : undefined,
      ]);
      if (!saved) continue;
      if (indexBeside) indexed = record.users;
    }
    const seq = record.seq ?? (await store.nextSeq(subdomain));
    const tally = await withCrm(deps, subdomain, decision.record, () =>
      deliverCallUpdate(
        {
          index: store,
          connections: store,
          pusher: deps.pusher,
          logger: deps.logger,
          metrics: deps.metrics,
          pushConcurrency: deps.pushConcurrency,
        },
        subdomain,
        decision.record,
        seq,
        now,
        indexed,
      ),
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
