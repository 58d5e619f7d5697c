/**
 * What the handlers need from the outside world, in Callbridge's terms. Adapters in `adapters/` implement
 * these for DynamoDB and API Gateway; nothing above them knows an SDK exception.
 */
import type { AccountSecrets, TicketRecord } from './core/auth';
import type { CallRecord } from './core/call-state';
import type { CallMessage } from './core/protocol';
import type { AgentMap } from './core/routing';

export interface Connection {
  connectionId: string;
  subdomain: string;
  userId: number;
  /** Epoch ms. */
  connectedAt: number;
  /** Epoch ms; API Gateway closes every socket at 2 h, so a record past this is an orphan. */
  expiresAt: number;
}

export interface ConnectionStore {
  saveConnection(connection: Connection): Promise<void>;
  getConnection(connectionId: string): Promise<Connection | undefined>;
  removeConnection(connectionId: string): Promise<void>;
  /** Live connections of some users, or of the whole account. Never a Scan. */
  connectionsOf(
    subdomain: string,
    users: readonly number[] | 'everyone',
    nowMs: number,
  ): Promise<Connection[]>;
}

export interface TicketStore {
  saveTicket(hash: string, record: TicketRecord): Promise<void>;
  /** Atomically take a ticket: a second call for the same hash gets undefined. */
  consumeTicket(hash: string): Promise<TicketRecord | undefined>;
}

export interface AgentStore {
  getAgentMap(subdomain: string): Promise<AgentMap>;
  putAgentMap(subdomain: string, map: AgentMap, updatedBy: number, nowMs: number): Promise<void>;
}

export interface WebhookResult {
  status: 'accepted' | 'ignored';
  callId: string;
  state: string;
  /** Sockets the event reached. */
  sockets: number;
  /** Users the event was addressed to. */
  users: number;
  reason?: string;
  unmatchedExtensions?: string[];
}

export type WebhookClaim = { kind: 'claimed' } | { kind: 'done'; result: WebhookResult } | { kind: 'busy' };

export interface WebhookLog {
  /** Claim a webhook id for processing; a claim older than `leaseMs` is taken over (its holder died). */
  claimWebhook(subdomain: string, webhookId: string, nowMs: number, leaseMs: number): Promise<WebhookClaim>;
  completeWebhook(subdomain: string, webhookId: string, result: WebhookResult, nowMs: number): Promise<void>;
  /** Give a claim back after a failure so the provider's retry can process it. */
  releaseWebhook(subdomain: string, webhookId: string): Promise<void>;
}

export interface CallStore {
  getCall(subdomain: string, callId: string): Promise<CallRecord | undefined>;
  getCalls(subdomain: string, callIds: readonly string[]): Promise<CallRecord[]>;
  /** Save if the stored version is still `record.version - 1`; false when another writer got there first. */
  saveCall(subdomain: string, record: CallRecord, nowMs: number): Promise<boolean>;
}

/**
 * Seqs come from one counter per account: every user's stream is strictly increasing (with gaps where other
 * users' events took numbers), and one webhook costs one allocation however many agents it rings.
 */
export interface EventLog {
  /** The account's next seq; the call record keeps it, so a retry of the same webhook pushes the same seq. */
  nextSeq(subdomain: string): Promise<number>;
  /** Keep one message per recipient for `resume`, and track which calls each recipient has active. */
  recordEvents(
    subdomain: string,
    userIds: readonly number[],
    message: CallMessage,
    active: boolean,
    nowMs: number,
  ): Promise<void>;
  eventsAfter(subdomain: string, userId: number, after: number, nowMs: number): Promise<CallMessage[]>;
  /** The account's latest seq: a resume snapshot carries it. */
  latestSeq(subdomain: string): Promise<number>;
  activeCallIds(subdomain: string, userId: number): Promise<string[]>;
}

export type StateStore = ConnectionStore & TicketStore & AgentStore & WebhookLog & CallStore & EventLog;

export interface WebhookSecret {
  secret: string;
  /** Epoch ms. */
  createdAt: number;
  /** Epoch ms; set on the old secret when a new one replaces it, so the phone system can be switched over. */
  expiresAt?: number;
}

/** Set on accounts that came from a Kommo installation (OAuth); absent on private `accounts add` ones. */
export type AccountStatus = 'active' | 'needs_reauth' | 'disabled';

export interface Account extends AccountSecrets {
  webhookSecrets: WebhookSecret[];
  createdAt: number;
  /** Kommo's account_id, for accounts installed through OAuth. */
  kommoAccountId?: number;
  /** Absent means active (every account made by `accounts add`). */
  status?: AccountStatus;
  disabledAt?: number;
}

export interface AccountStore {
  getAccount(subdomain: string): Promise<Account | undefined>;
  putAccount(account: Account): Promise<void>;
  listAccounts(): Promise<Account[]>;
  removeAccount(subdomain: string): Promise<boolean>;
}

export type PushOutcome = 'sent' | 'gone';

export interface Pusher {
  /** @throws PushFailedError for anything but a gone connection (after the client's own retries) */
  send(connectionId: string, data: string): Promise<PushOutcome>;
}

export class PushFailedError extends Error {
  override readonly name = 'PushFailedError';
  constructor(
    readonly connectionId: string,
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(`push to ${connectionId} failed: ${reason}`, options);
  }
}

export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export type LogFields = Record<string, unknown>;

export interface Logger {
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

export const activeWebhookSecrets = (account: Account, nowMs: number): string[] =>
  account.webhookSecrets.filter((s) => s.expiresAt === undefined || s.expiresAt > nowMs).map((s) => s.secret);

export interface SocketCloser {
  /** Close a socket from the server side; a connection that is gone already is not an error. */
  close(connectionId: string): Promise<void>;
}
