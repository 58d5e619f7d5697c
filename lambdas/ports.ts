/**
 * What the handlers need from the outside world, in Callbridge's terms. Adapters in `adapters/` implement
 * these for DynamoDB and API Gateway; nothing above them knows an SDK exception.
 */
import type { AccountSecrets, TicketRecord } from './core/auth';
import type { CallRecord } from './core/call-state';
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
  /** Store a socket; answers its user's live sockets, this one included (for the per-user cap). */
  saveConnection(connection: Connection): Promise<Connection[]>;
  /** Take sockets out of their user's routing at once (closed by the cap; their own records expire). */
  forgetConnections(subdomain: string, userId: number, connectionIds: readonly string[]): Promise<void>;
  getConnection(connectionId: string): Promise<Connection | undefined>;
  removeConnection(connectionId: string): Promise<void>;
  /** Live connections of these users, by a strongly consistent read: a socket is found once $connect returned. */
  connectionsOf(subdomain: string, users: readonly number[], nowMs: number): Promise<Connection[]>;
  /** Every user who has connected to this account (a ring-all reaches them beside the agent map's users). */
  connectedUsers(subdomain: string): Promise<number[]>;
}

/** Fixed-window counters behind the per-tenant limits (core/limits.ts); each call counts one more. */
export interface RateCounter {
  /** A ticket for this user in the window starting at `windowStart`: the window's count, this one included. */
  countTicket(subdomain: string, userId: number, windowStart: number, windowMs: number): Promise<number>;
  /** A message on this socket in the window (a resume counts in both): the window's counts so far. */
  countMessage(
    connectionId: string,
    resume: boolean,
    windowStart: number,
    windowMs: number,
  ): Promise<{ messages: number; resumes: number }>;
}

export interface TicketStore {
  saveTicket(hash: string, record: TicketRecord): Promise<void>;
  /** Atomically take a ticket: a second call for the same hash gets undefined. */
  consumeTicket(hash: string): Promise<TicketRecord | undefined>;
}

/**
 * The user → extension map, kept per extension so that a webhook reads only the extensions it names: at
 * 10,000 agents the whole map is far too big to read on every call (see table-design.ts).
 */
export interface AgentStore {
  /** The whole map (GET /agents, an admin's edit): reads every shard, never on a webhook's path. */
  getAgentMap(subdomain: string): Promise<AgentMap>;
  /** Replace the map: extensions that went away are deleted, changed ones rewritten, the rest untouched. */
  putAgentMap(subdomain: string, map: AgentMap, updatedBy: number, nowMs: number): Promise<void>;
  /** The users of these extensions, by strongly consistent reads of only their keys; nobody's are absent. */
  usersOfExtensions(subdomain: string, extensions: readonly string[]): Promise<Map<string, number[]>>;
  /** Everyone a ring-all reaches: every user with an extension and every user who has connected. */
  ringAllUsers(subdomain: string): Promise<number[]>;
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
 * Which users' tabs showed a ringing call's pop-up (the widget's `ack`). The CRM worker rings Kommo's bell
 * only for the call's other users: a socket that took the push may belong to a frozen or sleeping page.
 */
export interface PopupAcks {
  /** This user's tab showed the call's pop-up (idempotent; kept a day, longer than any call rings). */
  ackPopup(subdomain: string, callId: string, userId: number, nowMs: number): Promise<void>;
  /** Every user whose tab showed the call's pop-up, by a strongly consistent read. */
  ackedUsers(subdomain: string, callId: string): Promise<number[]>;
}

/**
 * Which calls each user was told of. A resume reads it to send the user every call in its latest state (the
 * call record is the truth; this only says which records to read), so a resume converges rather than replays.
 * Seqs come from one counter per account: they order pushes for the widget and carry no delivery guarantee.
 */
export interface CallIndex {
  /** The account's next seq; the call record keeps it, so a retry of the same webhook pushes the same seq. */
  nextSeq(subdomain: string): Promise<number>;
  /** The account's latest seq: a resume snapshot carries it. */
  latestSeq(subdomain: string): Promise<number>;
  /** These users were told of this call (idempotent; kept a day, longer than any call). */
  addCallUsers(subdomain: string, userIds: readonly number[], callId: string, nowMs: number): Promise<void>;
  /** The calls this user was told of and not yet expired. */
  callIdsOf(subdomain: string, userId: number, nowMs: number): Promise<string[]>;
}

export type StateStore = ConnectionStore &
  TicketStore &
  RateCounter &
  AgentStore &
  WebhookLog &
  CallStore &
  CallIndex;

export interface WebhookSecret {
  secret: string;
  /** Epoch ms. */
  createdAt: number;
  /** Epoch ms; set on the old secret when a new one replaces it, so the phone system can be switched over. */
  expiresAt?: number;
}

/**
 * Each phone provider's own webhook credentials, per account (`npm run accounts -- connect <provider>`). They
 * live in the accounts table with the other secrets, encrypted with the same customer-managed key.
 */
export interface ProviderCredentials {
  twilio?: { authToken: string };
  /** Base64 of the raw 32-byte Ed25519 public key, as Mission Control shows it. */
  telnyx?: { publicKey: string };
  vonage?: { signatureSecret: string };
  plivo?: { authToken: string };
  /** The API key is kept for the statistics and recording APIs; only the secret signs notifications. */
  zadarma?: { apiKey: string; apiSecret: string };
}
/** Set on accounts that came from a Kommo installation (OAuth); absent on private `accounts add` ones. */
export type AccountStatus = 'active' | 'needs_reauth' | 'disabled';

export interface Account extends AccountSecrets {
  webhookSecrets: WebhookSecret[];
  createdAt: number;
  providers?: ProviderCredentials;
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

/** Closing a socket from the server side (the @connections API's DELETE); 'gone' when it already was. */
export interface ConnectionCloser {
  close(connectionId: string): Promise<PushOutcome>;
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

/** Counts that must reach an alarm even though the code path that hits them recovers. */
export interface Metrics {
  /** Pushes that failed for a reason other than a gone socket, after the client's own retries. */
  pushFailures(count: number): void;
}

export const noMetrics: Metrics = { pushFailures: () => {} };

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
