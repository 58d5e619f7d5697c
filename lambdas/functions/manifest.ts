/**
 * Every function of Callbridge, declared once: its entry, the environment it reads, the tables and the exact
 * DynamoDB calls it makes on them, whether it posts to sockets, what triggers it, and its limits.
 *
 * The CDK stack turns this into functions, least-privilege policies, routes and alarms; the local stack wires
 * the same triggers and enforces the same timeouts; the rehearsal checks the template against it. A handler
 * that starts making a new call must say so here, or the local stack's access check and the rehearsal's IAM
 * check refuse it the way AWS would.
 *
 * Pure data: Lambda entries import it to read their environment, so it must stay free of CDK and SDK imports.
 */

export type EnvSource =
  | { kind: 'table-name'; table: TableId }
  /** The stage's management endpoint (https://…/prod) or the URL a widget opens (wss://…/prod). */
  | { kind: 'websocket'; url: 'callback' | 'public' }
  | { kind: 'queue-url'; queue: string }
  /** The physical name of another function of the manifest (to invoke it). */
  | { kind: 'function-name'; fn: string };

/** Where each environment variable's value comes from at deploy time; the only variables a function may read. */
export const ENV_SOURCES = {
  STATE_TABLE: { kind: 'table-name', table: 'state' },
  ACCOUNTS_TABLE: { kind: 'table-name', table: 'accounts' },
  WS_CALLBACK_URL: { kind: 'websocket', url: 'callback' },
  WS_URL: { kind: 'websocket', url: 'public' },
  KOMMO_TABLE: { kind: 'table-name', table: 'kommo' },
  INSTALL_FUNCTION_NAME: { kind: 'function-name', fn: 'kommoInstall' },
  CRM_QUEUE_URL: { kind: 'queue-url', queue: 'crm' },
} as const satisfies Record<string, EnvSource>;
export type EnvName = keyof typeof ENV_SOURCES;

export const DYNAMO_ACTIONS = [
  'GetItem',
  'BatchGetItem',
  'Query',
  'Scan',
  'PutItem',
  'UpdateItem',
  'DeleteItem',
  'BatchWriteItem',
  'ConditionCheckItem',
] as const;
export type DynamoAction = (typeof DYNAMO_ACTIONS)[number];

/** Actions that only read; any other needs write access to the table (and its key, if encrypted). */
export const READ_ACTIONS: readonly DynamoAction[] = [
  'GetItem',
  'BatchGetItem',
  'Query',
  'Scan',
  'ConditionCheckItem',
];

export type TableId = 'state' | 'accounts' | 'kommo';

export interface TableAccess {
  table: TableId;
  /** Calls on the table itself. */
  actions: readonly DynamoAction[];
  /** Calls on its account index (the only index there is). */
  indexActions?: readonly ('Query' | 'Scan')[];
}

export type Trigger =
  | { kind: 'http'; method: 'GET' | 'POST' | 'PUT' | 'DELETE'; path: string }
  | { kind: 'websocket'; route: '$connect' | '$disconnect' | '$default' }
  /** The REQUEST authorizer of `$connect`; browsers cannot send headers, so the identity is in the query. */
  | { kind: 'websocket-authorizer'; identitySource: readonly string[] }
  | { kind: 'schedule'; everyMinutes: number }
  /** An SQS queue with a dead-letter queue after `maxReceives`; its age of oldest message is alarmed. */
  | { kind: 'queue'; queue: string; batchSize: number; maxReceives: number; maxAgeAlarmSeconds: number };

export interface FunctionSpec {
  /** File under lambdas/functions, without extension. */
  entry: string;
  description: string;
  memoryMb: number;
  timeoutSeconds: number;
  /** Concurrency set aside so that another function's burst cannot starve this one. */
  reservedConcurrency?: number;
  env: readonly EnvName[];
  access: readonly TableAccess[];
  /** PostToConnection (and the rest of the @connections API) on the WebSocket stage. */
  manageConnections: boolean;
  /** Queues (declared by a `queue` trigger of some function) this function sends to. */
  sendsTo?: readonly string[];
  /** Functions of the manifest this one invokes (asynchronously). */
  invokes?: readonly string[];
  triggers: readonly Trigger[];
}

/**
 * What every function that ingests call events needs, whoever sends them (our contract or a provider's own
 * webhooks): both run the same use-case, so they must be granted the same.
 */
const INGESTS_CALL_EVENTS = {
  env: ['STATE_TABLE', 'ACCOUNTS_TABLE', 'WS_CALLBACK_URL', 'CRM_QUEUE_URL'],
  access: [
    { table: 'accounts', actions: ['GetItem'] },
    // BatchGetItem finds the recipients' sockets; DeleteItem and UpdateItem also forget gone ones.
    {
      table: 'state',
      actions: ['GetItem', 'BatchGetItem', 'PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem'],
    },
  ],
  manageConnections: true,
  // Ended calls to log in Kommo; for ringing calls, the delayed bell check and the bell when no tab was
  // reached (issue 13). The delay is a SendMessage parameter: no other grant.
  sendsTo: ['crm'],
} as const;

export const FUNCTIONS = {
  webhook: {
    entry: 'webhook',
    description: 'Signed call events from a phone system: state, seq, copies for resume, push',
    memoryMb: 512,
    timeoutSeconds: 25,
    // Calls must get through while another tenant's sockets flood $default: this much is always there.
    reservedConcurrency: 50,
    ...INGESTS_CALL_EVENTS,
    triggers: [{ kind: 'http', method: 'POST', path: '/webhooks/{subdomain}' }],
  },
  providerWebhook: {
    entry: 'provider-webhook',
    description:
      'Native webhooks of phone providers (Twilio, Telnyx, Vonage, Plivo, Zadarma), verified their way',
    memoryMb: 512,
    timeoutSeconds: 25,
    ...INGESTS_CALL_EVENTS,
    triggers: [
      { kind: 'http', method: 'POST', path: '/webhooks/{subdomain}/{provider}' },
      // Zadarma checks a URL with a GET that must echo a value before it sends anything.
      { kind: 'http', method: 'GET', path: '/webhooks/{subdomain}/{provider}' },
    ],
  },
  tickets: {
    entry: 'tickets',
    description: 'Kommo disposable token in, single-use WebSocket ticket out',
    memoryMb: 256,
    timeoutSeconds: 10,
    env: ['STATE_TABLE', 'ACCOUNTS_TABLE', 'WS_URL'],
    access: [
      { table: 'accounts', actions: ['GetItem'] },
      // PutItem stores the ticket; GetItem reads the account's latest seq for a fresh client; UpdateItem counts
      // the user's tickets (20 a minute).
      { table: 'state', actions: ['PutItem', 'GetItem', 'UpdateItem'] },
    ],
    manageConnections: false,
    triggers: [{ kind: 'http', method: 'POST', path: '/tickets' }],
  },
  agents: {
    entry: 'agents',
    description:
      'Read the user → extension map; an admin’s save re-reads it from Kommo (or takes it, without OAuth)',
    memoryMb: 256,
    timeoutSeconds: 10,
    env: ['STATE_TABLE', 'ACCOUNTS_TABLE', 'KOMMO_TABLE'],
    access: [
      { table: 'accounts', actions: ['GetItem'] },
      // Query reads the extension shards; BatchWriteItem writes and deletes extension items; UpdateItem sets
      // the users with an extension on each directory shard (what a ring-all reads).
      { table: 'state', actions: ['Query', 'BatchWriteItem', 'UpdateItem'] },
      // The installation's tokens (refreshed under a lease) and the time of the last settings sync.
      { table: 'kommo', actions: ['GetItem', 'UpdateItem'] },
    ],
    manageConnections: false,
    triggers: [
      { kind: 'http', method: 'GET', path: '/agents' },
      { kind: 'http', method: 'PUT', path: '/agents' },
    ],
  },
  authorizer: {
    entry: 'authorizer',
    description: 'Consumes a single-use ticket on $connect',
    memoryMb: 256,
    timeoutSeconds: 10,
    // Every (re)connect of every account goes through here: another function's burst must not starve it.
    reservedConcurrency: 20,
    env: ['STATE_TABLE'],
    access: [{ table: 'state', actions: ['DeleteItem'] }],
    manageConnections: false,
    triggers: [{ kind: 'websocket-authorizer', identitySource: ['route.request.querystring.ticket'] }],
  },
  connect: {
    entry: 'connect',
    description: 'Registers an admitted socket under its account and user; closes the oldest past 10 a user',
    memoryMb: 256,
    timeoutSeconds: 10,
    reservedConcurrency: 20,
    env: ['STATE_TABLE', 'WS_CALLBACK_URL'],
    // PutItem: the socket by id; UpdateItem: its user's CONNS item (also to drop sockets over the cap) and the
    // account's directory. The @connections API closes the sockets over the cap.
    access: [{ table: 'state', actions: ['PutItem', 'UpdateItem'] }],
    manageConnections: true,
    triggers: [{ kind: 'websocket', route: '$connect' }],
  },
  disconnect: {
    entry: 'disconnect',
    description: 'Forgets a closed socket',
    memoryMb: 256,
    timeoutSeconds: 10,
    env: ['STATE_TABLE'],
    access: [{ table: 'state', actions: ['DeleteItem', 'UpdateItem'] }],
    manageConnections: false,
    triggers: [{ kind: 'websocket', route: '$disconnect' }],
  },
  default: {
    entry: 'default',
    description: 'A widget’s ping, resume (snapshot) and ack of a ringing pop-up',
    memoryMb: 256,
    timeoutSeconds: 25,
    env: ['STATE_TABLE', 'WS_CALLBACK_URL'],
    // GetItem: the connection, the latest seq, an acked call; Query: the user's calls; BatchGetItem: the calls;
    // UpdateItem: the socket's message budget and a call's pop-up acks. The @connections API replies, and
    // closes a flooding socket.
    access: [{ table: 'state', actions: ['GetItem', 'Query', 'BatchGetItem', 'UpdateItem'] }],
    manageConnections: true,
    triggers: [{ kind: 'websocket', route: '$default' }],
  },
  oauthRedirect: {
    entry: 'oauth-redirect',
    description: 'Kommo’s Redirect URI: stores the code at once, exchanges it asynchronously',
    memoryMb: 256,
    timeoutSeconds: 10,
    env: ['KOMMO_TABLE', 'INSTALL_FUNCTION_NAME'],
    access: [{ table: 'kommo', actions: ['GetItem', 'PutItem'] }],
    manageConnections: false,
    invokes: ['kommoInstall'],
    triggers: [{ kind: 'http', method: 'GET', path: '/oauth/kommo' }],
  },
  kommoInstall: {
    entry: 'kommo-install',
    description: 'Exchanges one stored OAuth code: tokens, the account, its settings',
    memoryMb: 256,
    // Exchange, account and settings, each with retries; the code's lease (60 s) lets a rerun take over.
    timeoutSeconds: 120,
    // One container: a flood of forged codes at the public Redirect URL queues instead of fanning out past
    // Kommo's rate limit (which would get this deployment's IP blocked).
    reservedConcurrency: 1,
    env: ['KOMMO_TABLE', 'ACCOUNTS_TABLE', 'STATE_TABLE'],
    access: [
      { table: 'kommo', actions: ['GetItem', 'PutItem', 'UpdateItem'] },
      { table: 'accounts', actions: ['GetItem', 'PutItem', 'DeleteItem'] },
      // The extension map from Kommo's settings: read (Query), replaced (BatchWriteItem), directory (UpdateItem).
      { table: 'state', actions: ['Query', 'BatchWriteItem', 'UpdateItem'] },
    ],
    manageConnections: false,
    triggers: [],
  },
  kommoMaintenance: {
    entry: 'kommo-maintenance',
    description: 'Hourly: lost exchanges, token refresh, settings sync, purge of disabled accounts',
    memoryMb: 256,
    timeoutSeconds: 600,
    reservedConcurrency: 1,
    env: ['KOMMO_TABLE', 'ACCOUNTS_TABLE', 'STATE_TABLE'],
    access: [
      // Scan: the sweep over installations and pending codes (a few items per account).
      { table: 'kommo', actions: ['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem', 'Scan'] },
      { table: 'accounts', actions: ['GetItem', 'PutItem', 'DeleteItem'] },
      // The extension map from Kommo's settings: read (Query), replaced (BatchWriteItem), directory (UpdateItem).
      { table: 'state', actions: ['Query', 'BatchWriteItem', 'UpdateItem'] },
    ],
    manageConnections: false,
    triggers: [{ kind: 'schedule', everyMinutes: 60 }],
  },
  oauthDisabled: {
    entry: 'oauth-disabled',
    description:
      'Kommo’s disable hook: verified, then tokens deleted, sockets closed, the account turned off',
    memoryMb: 256,
    timeoutSeconds: 25,
    env: ['KOMMO_TABLE', 'ACCOUNTS_TABLE', 'STATE_TABLE', 'WS_CALLBACK_URL'],
    access: [
      { table: 'kommo', actions: ['GetItem', 'UpdateItem'] },
      { table: 'accounts', actions: ['GetItem', 'PutItem'] },
      { table: 'state', actions: ['GetItem', 'BatchGetItem', 'DeleteItem', 'UpdateItem'] },
    ],
    manageConnections: true,
    triggers: [{ kind: 'http', method: 'GET', path: '/oauth/kommo/disabled' }],
  },
  webhookSettings: {
    entry: 'webhook-settings',
    description: 'Admins see and rotate their phone system’s webhook URL and secret',
    memoryMb: 256,
    timeoutSeconds: 10,
    env: ['ACCOUNTS_TABLE'],
    access: [{ table: 'accounts', actions: ['GetItem', 'PutItem'] }],
    manageConnections: false,
    triggers: [
      { kind: 'http', method: 'GET', path: '/settings/webhook' },
      { kind: 'http', method: 'POST', path: '/settings/webhook' },
    ],
  },
  crmWorker: {
    entry: 'crm-worker',
    description: 'Calls into Kommo: one call-log entry per call, incoming leads, missed-call tasks, the bell',
    memoryMb: 256,
    // A batch of 50 calls at Kommo's pace, with a 429's short waits; the queue hides a batch 6× this long.
    timeoutSeconds: 60,
    // One consumer: its limiter is the only one sending CRM traffic, so the account stays under 7 per second.
    reservedConcurrency: 1,
    env: ['KOMMO_TABLE', 'ACCOUNTS_TABLE', 'STATE_TABLE'],
    access: [
      // GetItem: tokens, settings, ledger entries; UpdateItem: ledger claims (conditional, so they create
      // their items), open missed-call tasks, token refresh, failures.
      { table: 'kommo', actions: ['GetItem', 'UpdateItem'] },
      { table: 'accounts', actions: ['GetItem'] },
      // GetItem: the call's record and, for the bell's check, its pop-up acks.
      { table: 'state', actions: ['GetItem'] },
    ],
    manageConnections: false,
    triggers: [
      // 20 receives 6 minutes apart: a Kommo outage of 2 hours is waited out before a message gives up.
      { kind: 'queue', queue: 'crm', batchSize: 50, maxReceives: 20, maxAgeAlarmSeconds: 900 },
    ],
  },
  crmSettings: {
    entry: 'crm-settings',
    description: 'Admins read and change what calls do in Kommo, and see the calls that could not be logged',
    memoryMb: 256,
    timeoutSeconds: 10,
    env: ['ACCOUNTS_TABLE', 'KOMMO_TABLE'],
    access: [
      { table: 'accounts', actions: ['GetItem'] },
      { table: 'kommo', actions: ['GetItem', 'UpdateItem'] },
    ],
    manageConnections: false,
    triggers: [
      { kind: 'http', method: 'GET', path: '/settings/crm' },
      { kind: 'http', method: 'PUT', path: '/settings/crm' },
    ],
  },
} as const satisfies Record<string, FunctionSpec>;

export type FunctionName = keyof typeof FUNCTIONS;
export type Manifest = Record<string, FunctionSpec>;

export interface HttpRoute {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  routeKey: string;
  fn: string;
}

/** Every HTTP route of a manifest, in declaration order. */
export const httpRoutes = (manifest: Manifest = FUNCTIONS): HttpRoute[] =>
  Object.entries(manifest).flatMap(([fn, spec]) =>
    spec.triggers.flatMap((t) =>
      t.kind === 'http' ? [{ method: t.method, path: t.path, routeKey: `${t.method} ${t.path}`, fn }] : [],
    ),
  );

/** The function behind a WebSocket route or the authorizer; exactly one each. */
export const webSocketFunction = (
  kind: 'websocket-authorizer' | '$connect' | '$disconnect' | '$default',
  manifest: Manifest = FUNCTIONS,
): string => {
  const found = Object.entries(manifest).filter(([, spec]) =>
    spec.triggers.some((t) =>
      kind === 'websocket-authorizer' ? t.kind === kind : t.kind === 'websocket' && t.route === kind,
    ),
  );
  if (found.length !== 1 || !found[0]) {
    throw new Error(`manifest: expected exactly one function for ${kind}, found ${found.length}`);
  }
  return found[0][0];
};

/** The calls a function may make on a table: `dynamodb:<Action>` on the table, or on its index. */
export const allowedCalls = (spec: FunctionSpec, table: TableId, onIndex: boolean): ReadonlySet<string> => {
  const access = spec.access.find((a) => a.table === table);
  return new Set<string>((onIndex ? access?.indexActions : access?.actions) ?? []);
};
