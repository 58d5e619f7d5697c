/**
 * The CRM worker: a batch of jobs from the queue in, Kommo writes out, each at most once per call.
 *
 * For every write the ledger is claimed before the request and finished after it, so a retry of the message,
 * a replayed webhook or a second worker finds it done (or held) and does not send it again. What Kommo refused
 * unprocessed (429, outage) is released and retried later by the queue; what may have been applied without us
 * hearing back (a timeout) is never re-sent and is shown to the admins instead. Jobs of one account share one
 * request per kind (up to 50 calls each, kommo-server.md §8.1), so a busy account costs few requests per call.
 */
import { randomUUID } from 'node:crypto';
import * as v from 'valibot';
import type { CallRecord } from '../core/call-state';
import { chunks } from '../core/fanout';
import {
  callEntryOf,
  isAnswered,
  isMissedInbound,
  otherParty,
  phoneKey,
  startedAtSeconds,
  taskDueOf,
  taskEntityType,
  taskResponsibleOf,
  taskTextOf,
  unsortedLeadOf,
} from '../crm/call-entry';
import { type CrmJob, CrmJobSchema, type CrmLedger, type CrmStep } from '../crm/ports';
import { type CrmSettings, DEFAULT_CRM_SETTINGS } from '../crm/settings';
import type { KommoClient } from '../kommo/client';
import { KommoError, kommoErrorCode } from '../kommo/errors';
import { errorFields } from '../logger';
import type { AccountStore, CallStore, Clock, Logger, PopupAcks } from '../ports';

export interface CrmWorkerDeps {
  accounts: Pick<AccountStore, 'getAccount'>;
  calls: Pick<CallStore, 'getCall'>;
  /** Which users' tabs showed a ringing call's pop-up: the bell rings for the others. */
  acks: Pick<PopupAcks, 'ackedUsers'>;
  ledger: CrmLedger;
  client: Pick<KommoClient, 'request'>;
  clock: Clock;
  logger: Logger;
  /** Longer than one invocation can run: a claim older than this belongs to a worker that died. */
  leaseMs: number;
  /** Calls per `POST /api/v4/calls` (Kommo recommends at most 50). */
  batchLimit?: number;
  /** The queue's receive limit: a message failing on its last receive goes to the dead-letter queue. */
  maxReceives: number;
}

export interface CrmMessage {
  id: string;
  body: string;
  /** How many times the queue has handed this message out, this time included. */
  receives: number;
}

/** What happens to a message: gone (done, or nothing to do) or back to the queue for another attempt. */
type Verdict = 'ack' | 'retry';

/** How a failed request is handled: refused unprocessed, maybe applied, or refused for good. */
type Failure = { kind: 'retry' | 'uncertain' | 'permanent'; reason: string };

const failureOf = (error: unknown): Failure => {
  if (!(error instanceof KommoError)) return { kind: 'retry', reason: 'internal error' };
  switch (error.code) {
    case 'rate_limited':
    case 'network':
      return { kind: 'retry', reason: 'Kommo unavailable' };
    case 'server_error':
      // A gateway timeout may have been applied behind the gateway; the others were refused.
      return error.details.status === 504
        ? { kind: 'uncertain', reason: 'Kommo timed out' }
        : { kind: 'retry', reason: 'Kommo unavailable' };
    case 'timeout':
      return { kind: 'uncertain', reason: 'Kommo did not answer in time' };
    case 'revoked':
    case 'unauthorized':
      return { kind: 'permanent', reason: 'token revoked' };
    case 'not_installed':
      return {
        kind: 'permanent',
        reason: 'the Kommo integration is not installed or needs re-authorization',
      };
    case 'forbidden':
      return { kind: 'permanent', reason: 'Kommo refused access' };
    case 'payment_required':
      return { kind: 'permanent', reason: 'Kommo account unpaid' };
    default:
      return { kind: 'permanent', reason: 'Kommo refused the entry' };
  }
};

interface Work {
  message: CrmMessage;
  job: CrmJob;
  record?: CallRecord;
  verdict?: Verdict;
}

interface AccountContext {
  accountId: number;
  settings: CrmSettings;
  owner: string;
}

export const processCrmBatch = async (
  deps: CrmWorkerDeps,
  messages: readonly CrmMessage[],
): Promise<string[]> => {
  const works: Work[] = [];
  for (const message of messages) {
    let body: unknown;
    try {
      body = JSON.parse(message.body);
    } catch {
      body = undefined;
    }
    const parsed = v.safeParse(CrmJobSchema, body);
    if (!parsed.success) {
      // Retrying cannot make it valid: dropped, and said so.
      deps.logger.error('crm job is malformed; dropped', { messageId: message.id });
      continue;
    }
    works.push({ message, job: parsed.output });
  }
  // The same job twice in a batch (a recording re-sends an ended call's job; a bell and its delayed check) is
  // done once; both share its verdict.
  const primaries = new Map<string, Work>();
  const duplicates: [Work, Work][] = [];
  for (const work of works) {
    const kind = work.job.kind === 'bell-check' ? 'bell' : work.job.kind;
    const key = `${kind}|${work.job.subdomain}|${work.job.callId}`;
    const primary = primaries.get(key);
    if (primary) duplicates.push([work, primary]);
    else primaries.set(key, work);
  }
  const bySubdomain = new Map<string, Work[]>();
  for (const work of primaries.values()) {
    const list = bySubdomain.get(work.job.subdomain) ?? [];
    list.push(work);
    bySubdomain.set(work.job.subdomain, list);
  }
  for (const [subdomain, list] of bySubdomain) {
    try {
      await processAccount(deps, subdomain, list);
    } catch (error) {
      deps.logger.error('crm batch failed', { subdomain, ...errorFields(error) });
      for (const work of list) work.verdict ??= 'retry';
    }
  }
  for (const [work, primary] of duplicates) work.verdict = primary.verdict;
  return works.filter((w) => w.verdict === 'retry').map((w) => w.message.id);
};

const processAccount = async (deps: CrmWorkerDeps, subdomain: string, works: Work[]) => {
  const account = await deps.accounts.getAccount(subdomain);
  if (account?.kommoAccountId === undefined) {
    // No OAuth installation: this account uses the widget without the CRM side.
    for (const work of works) work.verdict = 'ack';
    return;
  }
  const accountId = account.kommoAccountId;
  const settings = (await deps.ledger.getSettings(accountId)) ?? DEFAULT_CRM_SETTINGS;
  const ctx: AccountContext = { accountId, settings, owner: randomUUID() };
  await Promise.all(
    works.map(async (work) => {
      work.record = await deps.calls.getCall(subdomain, work.job.callId);
    }),
  );
  await ringBells(
    deps,
    ctx,
    works.filter((w) => w.job.kind === 'bell' || w.job.kind === 'bell-check'),
  );
  await logCalls(
    deps,
    ctx,
    works.filter((w) => w.job.kind === 'log'),
  );
};

/** Claim one step for each work item; those already handled get their verdict here. */
const claimAll = async (
  deps: CrmWorkerDeps,
  ctx: AccountContext,
  step: CrmStep,
  works: Work[],
): Promise<{ claimed: Work[]; done: Map<Work, Record<string, string | number>> }> => {
  const claimed: Work[] = [];
  const done = new Map<Work, Record<string, string | number>>();
  const now = deps.clock.now();
  // Independent items: claimed side by side, so a batch of 50 costs one round trip, not 50.
  const claims = await Promise.allSettled(
    works.map((work) =>
      deps.ledger.claim(ctx.accountId, step, work.job.callId, ctx.owner, now, deps.leaseMs),
    ),
  );
  for (const [i, work] of works.entries()) {
    const callId = work.job.callId;
    const settled = claims[i];
    // A claim that failed to be written (DynamoDB refused) goes back to the queue with its message.
    const claim = settled?.status === 'fulfilled' ? settled.value : ({ kind: 'busy' } as const);
    if (claim.kind === 'claimed') claimed.push(work);
    else if (claim.kind === 'done') done.set(work, claim.result);
    else if (claim.kind === 'busy') work.verdict = 'retry';
    else {
      if (await deps.ledger.markUncertain(ctx.accountId, step, callId, now)) {
        deps.logger.warn('crm write may not have reached Kommo; not sent again', { callId, step });
        await deps.ledger.recordFailure(ctx.accountId, callId, 'a worker stopped mid-request', now);
      }
      work.verdict = 'ack';
    }
  }
  return { claimed, done };
};

/** After a failed request: release or abandon the claims, and tell the queue and the admins. */
const failed = async (
  deps: CrmWorkerDeps,
  ctx: AccountContext,
  step: CrmStep,
  works: Work[],
  error: unknown,
) => {
  const failure = failureOf(error);
  const now = deps.clock.now();
  deps.logger.warn('crm request failed', {
    accountId: ctx.accountId,
    step,
    calls: works.length,
    outcome: failure.kind,
    code: kommoErrorCode(error),
  });
  for (const work of works) {
    const callId = work.job.callId;
    if (failure.kind === 'uncertain') {
      await deps.ledger.markUncertain(ctx.accountId, step, callId, Number.MAX_SAFE_INTEGER);
      await deps.ledger.recordFailure(ctx.accountId, callId, failure.reason, now);
      work.verdict = 'ack';
      continue;
    }
    await deps.ledger.release(ctx.accountId, step, callId, ctx.owner);
    const lastTry = work.message.receives >= deps.maxReceives;
    if (failure.kind === 'permanent' || lastTry) {
      await deps.ledger.recordFailure(ctx.accountId, callId, failure.reason, now);
    }
    if (lastTry) {
      // The reason the dead-letter queue's message has no room for.
      deps.logger.error('crm job goes to the dead-letter queue', {
        accountId: ctx.accountId,
        callId,
        step,
        reason: failure.reason,
      });
    }
    work.verdict = 'retry';
  }
};

/** The bell's ledger entry: one per call and user, so a user the ring group adds later is rung too, once. */
const bellKey = (callId: string, userId: number) => `${callId}#${userId}`;

/**
 * Kommo's bell for the users of still-ringing calls whose tabs have not acknowledged the pop-up: none had a
 * socket (`bell`, at once) or none showed it in time (`bell-check`, delayed). Each (call, user) is claimed in
 * the ledger first, so retries, both kinds of job and concurrent workers ring a user once per call.
 */
const ringBells = async (deps: CrmWorkerDeps, ctx: AccountContext, works: Work[]) => {
  const ringing = works.filter((w) => {
    // A bell for a call that is no longer ringing would ring for nothing.
    const due = ctx.settings.bell && w.record?.state === 'ringing' && w.record.users.length > 0;
    if (!due) w.verdict = 'ack';
    return due;
  });
  if (ringing.length === 0) return;
  const acked = await Promise.all(ringing.map((w) => deps.acks.ackedUsers(w.job.subdomain, w.job.callId)));
  const now = deps.clock.now();
  /** Per call: the users claimed now (to ring), and whether a claim could not be decided (retry later). */
  const plans = await Promise.all(
    ringing.map(async (work, i) => {
      const seen = new Set(acked[i]);
      const users = (work.record as CallRecord).users.filter((u) => !seen.has(u));
      const claims = await Promise.allSettled(
        users.map((u) =>
          deps.ledger.claim(ctx.accountId, 'bell', bellKey(work.job.callId, u), ctx.owner, now, deps.leaseMs),
        ),
      );
      const claimed: number[] = [];
      let busy = false;
      for (const [j, settled] of claims.entries()) {
        const claim = settled.status === 'fulfilled' ? settled.value : ({ kind: 'busy' } as const);
        if (claim.kind === 'claimed') claimed.push(users[j] as number);
        // Held by another worker right now: it rings, or releases it for this job's retry.
        else if (claim.kind === 'busy') busy = true;
        // done: rung already; uncertain: a worker died mid-request, and a second bell is worse than none.
      }
      return { work, claimed, busy };
    }),
  );
  for (const plan of plans) if (plan.claimed.length === 0) plan.work.verdict = plan.busy ? 'retry' : 'ack';
  const toRing = plans.filter((p) => p.claimed.length > 0);
  if (toRing.length === 0) return;
  // `users` is never empty here: Kommo reads a missing list as "every user of the account".
  const add = toRing.map((p) => ({
    type: 'phone_call',
    phone_number: otherParty(p.work.record as CallRecord),
    users: p.claimed,
  }));
  const release = (p: (typeof toRing)[number]) =>
    Promise.all(
      p.claimed.map((u) =>
        deps.ledger.release(ctx.accountId, 'bell', bellKey(p.work.job.callId, u), ctx.owner),
      ),
    );
  try {
    await deps.client.request(ctx.accountId, 'POST', '/api/v2/events', { body: { add } });
  } catch (error) {
    const failure = failureOf(error);
    deps.logger.warn('crm request failed', {
      accountId: ctx.accountId,
      step: 'bell',
      calls: toRing.length,
      outcome: failure.kind,
      code: kommoErrorCode(error),
    });
    for (const p of toRing) {
      if (failure.kind === 'uncertain') {
        // It may have rung: never again (a bell is a notification, not a record: no failure line for it).
        for (const u of p.claimed) {
          await deps.ledger.markUncertain(
            ctx.accountId,
            'bell',
            bellKey(p.work.job.callId, u),
            Number.MAX_SAFE_INTEGER,
          );
        }
        p.work.verdict = 'ack';
      } else {
        await release(p);
        // A bell that cannot ring now is worth nothing later: retried while the call may still ring, which
        // the retry's own check decides (a call no longer ringing is dropped there).
        p.work.verdict = failure.kind === 'permanent' ? 'ack' : 'retry';
      }
    }
    return;
  }
  await Promise.all(
    toRing.map(async (p) => {
      await Promise.all(
        p.claimed.map((u) =>
          deps.ledger.finish(ctx.accountId, 'bell', bellKey(p.work.job.callId, u), ctx.owner, { sent: 1 }),
        ),
      );
      // Users held by another worker keep the job for a retry; the ones rung here are done either way.
      p.work.verdict = p.busy ? 'retry' : 'ack';
    }),
  );
};

interface CallsResponse {
  _embedded?: { calls?: { request_id?: string; entity_id?: number; entity_type?: string }[] };
  errors?: { request_id?: string; title?: string }[];
}

interface UnsortedResponse {
  _embedded?: { unsorted?: { request_id?: string; _embedded?: { leads?: { id?: number }[] } }[] };
}

interface TasksResponse {
  _embedded?: { tasks?: { id?: number; request_id?: string }[] };
}

interface ContactsResponse {
  _embedded?: { contacts?: { id?: number; responsible_user_id?: number }[] };
}

/** The entity an entry went to: `{entityId, entityType}`, or `{unmatched: 1}` when Kommo had none. */
type Logged = Record<string, string | number>;

const logCalls = async (deps: CrmWorkerDeps, ctx: AccountContext, works: Work[]) => {
  const ended = works.filter((w) => {
    if (w.record?.state !== 'ended') w.verdict = 'ack';
    return w.record?.state === 'ended';
  });
  if (ended.length === 0) return;
  const { claimed, done } = await claimAll(deps, ctx, 'log', ended);
  const logged = new Map<Work, Logged>(done);
  const limit = deps.batchLimit ?? 50;
  for (const chunk of chunks(claimed, limit)) {
    const now = deps.clock.now();
    const entries = chunk.map((w, i) => callEntryOf(w.record as CallRecord, ctx.settings, String(i), now));
    let response: CallsResponse | undefined;
    try {
      response = (
        await deps.client.request<CallsResponse>(ctx.accountId, 'POST', '/api/v4/calls', { body: entries })
      ).body;
    } catch (error) {
      // A batch nobody's number matches comes back 400 with the calls in `errors` (kommo-server.md §2.3).
      if (error instanceof KommoError && error.details.entityErrors?.length === chunk.length) {
        response = { errors: error.details.entityErrors };
      } else {
        await failed(deps, ctx, 'log', chunk, error);
        continue;
      }
    }
    const added = new Map((response?._embedded?.calls ?? []).map((c) => [c.request_id, c]));
    const unmatched: Work[] = [];
    for (const [i, work] of chunk.entries()) {
      const call = added.get(String(i));
      if (call?.entity_id !== undefined) {
        logged.set(work, { entityId: call.entity_id, entityType: String(call.entity_type ?? 'contact') });
      } else {
        unmatched.push(work);
      }
    }
    // Unknown callers: an incoming lead instead, so that no call disappears (issue §2).
    const toLead = unmatched.filter((w) => ctx.settings.leads && w.record?.call.direction === 'inbound');
    for (const work of unmatched) if (!toLead.includes(work)) logged.set(work, { unmatched: 1 });
    if (toLead.length > 0) {
      try {
        const res = await deps.client.request<UnsortedResponse>(
          ctx.accountId,
          'POST',
          '/api/v4/leads/unsorted/sip',
          {
            body: toLead.map((w, i) => unsortedLeadOf(w.record as CallRecord, ctx.settings, String(i), now)),
          },
        );
        const byRequest = new Map((res.body?._embedded?.unsorted ?? []).map((u) => [u.request_id, u]));
        for (const [i, work] of toLead.entries()) {
          const leadId = byRequest.get(String(i))?._embedded?.leads?.[0]?.id;
          logged.set(
            work,
            leadId !== undefined ? { entityId: leadId, entityType: 'lead', unsorted: 1 } : { unmatched: 1 },
          );
        }
      } catch (error) {
        // The entries of the matched calls are in (recorded below, and their tasks made); only the leads go
        // back to the queue.
        await failed(deps, ctx, 'log', toLead, error);
      }
    }
    await Promise.all(
      chunk.map(async (work) => {
        const result = logged.get(work);
        if (!result) return;
        await deps.ledger.finish(ctx.accountId, 'log', work.job.callId, ctx.owner, result);
        await deps.ledger.clearFailure(ctx.accountId, work.job.callId);
      }),
    );
  }
  await createTasks(deps, ctx, logged);
  await completeTasks(deps, ctx, [...logged.keys()]);
  for (const work of logged.keys()) work.verdict ??= 'ack';
};

/** One "Call back" task per missed inbound call, on the entity its entry (or lead) went to. */
const createTasks = async (deps: CrmWorkerDeps, ctx: AccountContext, logged: Map<Work, Logged>) => {
  if (!ctx.settings.tasks) return;
  const missed = [...logged].filter(
    ([w, result]) =>
      w.verdict !== 'retry' && isMissedInbound(w.record as CallRecord) && result.entityId !== undefined,
  );
  if (missed.length === 0) return;
  const { claimed } = await claimAll(
    deps,
    ctx,
    'task',
    missed.map(([w]) => w),
  );
  if (claimed.length === 0) return;
  const now = deps.clock.now();
  const tasks: Record<string, unknown>[] = [];
  const sent: Work[] = [];
  for (const work of claimed) {
    const record = work.record as CallRecord;
    const result = logged.get(work) ?? {};
    let contactResponsible: number | undefined;
    if (!result.unsorted) {
      try {
        const res = await deps.client.request<ContactsResponse>(ctx.accountId, 'GET', '/api/v4/contacts', {
          query: { query: otherParty(record), limit: 5 },
        });
        const contacts = res.body?._embedded?.contacts ?? [];
        const contact = contacts.find((c) => c.id === result.entityId) ?? contacts[0];
        contactResponsible = contact?.responsible_user_id || undefined;
      } catch (error) {
        await failed(deps, ctx, 'task', [work], error);
        continue;
      }
    }
    const responsible = taskResponsibleOf(contactResponsible, record, ctx.settings);
    tasks.push({
      request_id: String(sent.length),
      text: taskTextOf(record),
      complete_till: taskDueOf(record, ctx.settings, now),
      task_type_id: 1,
      entity_id: Number(result.entityId),
      entity_type: taskEntityType(String(result.entityType)),
      ...(responsible !== undefined ? { responsible_user_id: responsible } : {}),
    });
    sent.push(work);
  }
  if (sent.length === 0) return;
  let res: TasksResponse | undefined;
  try {
    res = (await deps.client.request<TasksResponse>(ctx.accountId, 'POST', '/api/v4/tasks', { body: tasks }))
      .body;
  } catch (error) {
    return failed(deps, ctx, 'task', sent, error);
  }
  const byRequest = new Map((res?._embedded?.tasks ?? []).map((t) => [t.request_id, t.id]));
  for (const [i, work] of sent.entries()) {
    const taskId = byRequest.get(String(i));
    await deps.ledger.finish(ctx.accountId, 'task', work.job.callId, ctx.owner, taskId ? { taskId } : {});
    const due = Number(tasks[i]?.complete_till);
    if (taskId) {
      await deps.ledger.putOpenTask(
        ctx.accountId,
        phoneKey(otherParty(work.record as CallRecord)),
        {
          taskId,
          dueAt: due,
          callId: work.job.callId,
          missedAt: startedAtSeconds(work.record as CallRecord, now),
        },
        due + 86_400,
      );
    }
  }
};

/**
 * A later answered call with the same number (one that began after the missed one) completes the open task,
 * if it began before the task was due.
 */
const completeTasks = async (deps: CrmWorkerDeps, ctx: AccountContext, works: Work[]) => {
  if (!ctx.settings.completeTasks) return;
  const now = deps.clock.now();
  for (const work of works) {
    const record = work.record as CallRecord;
    if (work.verdict === 'retry' || !isAnswered(record)) continue;
    const key = phoneKey(otherParty(record));
    const task = await deps.ledger.takeOpenTask(ctx.accountId, key, startedAtSeconds(record, now));
    if (!task) continue;
    try {
      await deps.client.request(ctx.accountId, 'PATCH', '/api/v4/tasks', {
        body: [{ id: task.taskId, is_completed: true, result: { text: 'Answered call' } }],
        // Completing a task twice changes nothing.
        idempotent: true,
      });
    } catch (error) {
      // Put it back for the next answered call; the task stays open in Kommo, which is what it was.
      await deps.ledger.putOpenTask(ctx.accountId, key, task, task.dueAt + 86_400);
      deps.logger.warn('could not complete a missed-call task', {
        accountId: ctx.accountId,
        code: kommoErrorCode(error),
      });
    }
  }
};
