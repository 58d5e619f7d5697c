/**
 * What the CRM side needs, in our terms: a queue of jobs (SQS on AWS, a DynamoDB-backed stand-in locally) and
 * a ledger that makes each Kommo write happen at most once per call (Kommo does not de-duplicate calls,
 * kommo-server.md §2.3), plus the account's settings and its visible failures.
 */
import * as v from 'valibot';
import type { CrmSettings } from './settings';

/**
 * `log`: an ended call goes to Kommo (entry, lead, task). `bell`: a ringing call reached no open tab; rings at
 * once. `bell-check`: a ringing call reached some tabs; sent delayed by BELL_ACK_SECONDS, it rings for the
 * users whose tabs have not acknowledged the pop-up by then, if the call still rings. Both ring each user of a
 * call at most once.
 */
export const CrmJobSchema = v.strictObject({
  kind: v.picklist(['log', 'bell', 'bell-check']),
  subdomain: v.pipe(v.string(), v.regex(/^[a-z0-9-]{1,63}$/)),
  callId: v.pipe(v.string(), v.regex(/^[A-Za-z0-9._:@-]{1,128}$/)),
});
export type CrmJob = v.InferOutput<typeof CrmJobSchema>;

/**
 * How long the users' tabs have to acknowledge a ringing pop-up before Kommo's bell rings for them (issue 13
 * §4: "about 2 s"). A queue delay, so nothing waits: SQS holds the message back this long.
 */
export const BELL_ACK_SECONDS = 2;

export interface SendOptions {
  /** Hold the jobs back this long before any worker can receive them (SQS DelaySeconds, 0-900). */
  delaySeconds?: number;
}

export interface CrmQueue {
  /** Durable once resolved: the webhook answers only after this. */
  send(jobs: readonly CrmJob[], options?: SendOptions): Promise<void>;
}

/** One step of one call towards Kommo: the call entry (or incoming lead), the task, the bell. */
export type CrmStep = 'log' | 'task' | 'bell';

export type ClaimResult =
  /** Ours to send now. */
  | { kind: 'claimed' }
  /** Already sent; what it produced (the entity the entry was attached to, the task id…). */
  | { kind: 'done'; result: Record<string, string | number> }
  /** Another worker holds it right now. */
  | { kind: 'busy' }
  /**
   * A worker claimed it and died before recording the outcome: the request may or may not have reached Kommo,
   * and Kommo cannot be asked. It is never sent again (a duplicate is worse than a gap Kommo cannot show);
   * the admins see it among the failures.
   */
  | { kind: 'uncertain' };

export interface OpenTask {
  taskId: number;
  /** Unix seconds. */
  dueAt: number;
  callId: string;
  /** When the missed call began (Unix seconds): only a call that began after it completes the task. */
  missedAt?: number;
}

export interface CrmFailures {
  count: number;
  reason?: string;
  at?: number;
}

export interface CrmLedger {
  claim(
    accountId: number,
    step: CrmStep,
    callId: string,
    owner: string,
    nowMs: number,
    leaseMs: number,
  ): Promise<ClaimResult>;
  /** Sent and applied: never again. */
  finish(
    accountId: number,
    step: CrmStep,
    callId: string,
    owner: string,
    result: Record<string, string | number>,
  ): Promise<void>;
  /** Refused unprocessed (429, outage): the next attempt may send it. */
  release(accountId: number, step: CrmStep, callId: string, owner: string): Promise<void>;
  /** Mark a dead worker's claim uncertain, once (true for the caller that did). */
  markUncertain(accountId: number, step: CrmStep, callId: string, nowMs: number): Promise<boolean>;
  /** The open missed-call task for a number (one per number: the latest). */
  putOpenTask(accountId: number, phoneKey: string, task: OpenTask, ttlSeconds: number): Promise<void>;
  /** Take the open task for a number if it is still due after `notBeforeSeconds`; nobody else can take it. */
  /** The open task a call that began at `startedAtSeconds` completes: due after it, for a call missed before it. */
  takeOpenTask(accountId: number, phoneKey: string, startedAtSeconds: number): Promise<OpenTask | undefined>;
  getSettings(accountId: number): Promise<CrmSettings | undefined>;
  putSettings(accountId: number, settings: CrmSettings): Promise<void>;
  recordFailure(accountId: number, callId: string, reason: string, nowMs: number): Promise<void>;
  clearFailure(accountId: number, callId: string): Promise<void>;
  failures(accountId: number): Promise<CrmFailures>;
}
