/**
 * npm run cost: what a deployment costs per month, from request counts measured on the local stack (DynamoDB
 * capacity from the strict front, Lambda invocations and durations, API Gateway messages and requests) and
 * AWS's published on-demand prices for us-east-1.
 *
 * Usage: npm run cost [-- --agents 1000 --calls-per-day 10000 --hours-per-day 8 --days 22]
 */
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import WebSocket from 'ws';
import { CallbridgeStack } from '../infra/aws/stack';
import { mintKommoToken } from '../infra/local/kommo-token';
import { startLocalStack } from '../infra/local/stack';
import { newAccount } from '../lambdas/core/accounts';
import { signWebhook } from '../lambdas/core/webhook-signature';
import { FUNCTIONS, type FunctionName } from '../lambdas/functions/manifest';
import { parseOrExit } from './cli';

// Arguments first: --help and a typo answer at once, before the CDK synth and the sample run.
const COST_COMMAND = {
  usage: 'npm run cost [-- --agents 1000 --calls-per-day 10000 --hours-per-day 8 --days 22]',
  details: `  --agents N          agents signed in (default 1000)
  --calls-per-day N   inbound calls a day across the account(s) (default 10000)
  --hours-per-day N   hours a day agents keep Kommo open (default 8)
  --days N            working days a month (default 22)`,
  examples: ['npm run cost -- --agents 50 --calls-per-day 800'],
  options: {
    agents: { type: 'string', default: '1000' },
    'calls-per-day': { type: 'string', default: '10000' },
    'hours-per-day': { type: 'string', default: '8' },
    days: { type: 'string', default: '22' },
  },
} as const;
const parseCostArgs = () => {
  const { values } = parseOrExit(COST_COMMAND);
  const number = (flag: keyof typeof values & string, max: number) => {
    const value = Number(values[flag]);
    if (!Number.isFinite(value) || value <= 0 || value > max) {
      console.error(`error: --${flag} "${values[flag]}": expected a number above 0 and at most ${max}`);
      process.exit(2);
    }
    return value;
  };
  return {
    agents: number('agents', 1_000_000),
    'calls-per-day': number('calls-per-day', 100_000_000),
    'hours-per-day': number('hours-per-day', 24),
    days: number('days', 31),
  };
};
const values = parseCostArgs();

/** us-east-1, on-demand, as published on each service's pricing page (checked 2026-11). */
const PRICES = {
  lambdaPerMillionRequests: 0.2,
  /** arm64 */
  lambdaPerGbSecond: 0.0000133334,
  httpApiPerMillionRequests: 1.0,
  webSocketPerMillionMessages: 1.0,
  webSocketPerMillionConnectionMinutes: 0.25,
  dynamoPerMillionReadUnits: 0.125,
  dynamoPerMillionWriteUnits: 0.625,
  kmsPerKeyMonth: 1.0,
  cloudWatchPerAlarmMonth: 0.1,
  cloudWatchLogsPerGbIngested: 0.5,
} as const;

/** What the stack costs by merely existing: its KMS keys and alarms, counted in the synthesized template. */
const fixedResources = () => {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const template = Template.fromStack(new CallbridgeStack(app, 'Cost'));
  return {
    kmsKeys: Object.keys(template.findResources('AWS::KMS::Key')).length,
    alarms: Object.keys(template.findResources('AWS::CloudWatch::Alarm')).length,
  };
};
const FIXED = fixedResources();

interface Usage {
  rcu: number;
  wcu: number;
  httpRequests: number;
  messages: number;
  invocations: Partial<Record<FunctionName, { count: number; totalMs: number }>>;
}

const SAMPLE_AGENTS = 10;
const SAMPLE_CALLS = 30;
const SAMPLE_PINGS = 5;
const SECRET = 'cost-model-integration-secret-0123456789';

const stack = await startLocalStack({ accountCacheMs: 60_000 });
const front = stack.front;
if (!front) throw new Error('the cost model counts capacity through the strict DynamoDB front');
const account = newAccount({ subdomain: 'acme', integrationId: 'int', clientSecret: SECRET }, Date.now());
await stack.accounts.putAccount(account);
const agents = Array.from({ length: SAMPLE_AGENTS }, (_, i) => i + 1);
await stack.state.putAgentMap(
  'acme',
  Object.fromEntries(agents.map((u) => [String(u), `${100 + u}`])),
  1,
  Date.now(),
);

const snapshot = (): Usage => {
  const summary = front.capacity.summary();
  return {
    rcu: summary.rcu,
    wcu: summary.wcu,
    httpRequests: stack.gateway.stats.httpRequests,
    messages: stack.gateway.stats.messagesIn + stack.gateway.stats.messagesOut,
    invocations: structuredClone(stack.invocations),
  };
};
const delta = (a: Usage, b: Usage, per: number): Usage => {
  const invocations: Usage['invocations'] = {};
  for (const name of Object.keys(FUNCTIONS) as FunctionName[]) {
    const count = (b.invocations[name]?.count ?? 0) - (a.invocations[name]?.count ?? 0);
    const totalMs = (b.invocations[name]?.totalMs ?? 0) - (a.invocations[name]?.totalMs ?? 0);
    if (count > 0) invocations[name] = { count: count / per, totalMs: totalMs / per };
  }
  return {
    rcu: (b.rcu - a.rcu) / per,
    wcu: (b.wcu - a.wcu) / per,
    httpRequests: (b.httpRequests - a.httpRequests) / per,
    messages: (b.messages - a.messages) / per,
    invocations,
  };
};
const settle = async () => {
  await new Promise((resolve) => setTimeout(resolve, 300));
  await front.settle();
};
const nextMessage = (ws: WebSocket, type: string) =>
  new Promise<Record<string, unknown>>((resolve) => {
    const onMessage = (data: WebSocket.RawData) => {
      const message = JSON.parse(String(data)) as Record<string, unknown>;
      if (message.type === type) {
        ws.off('message', onMessage);
        resolve(message);
      }
    };
    ws.on('message', onMessage);
  });

// A connection: ticket, $connect (authorizer), resume (snapshot); its $disconnect is counted with it below.
let before = snapshot();
const sockets: WebSocket[] = [];
for (const userId of agents) {
  const token = await mintKommoToken({
    subdomain: 'acme',
    clientSecret: SECRET,
    integrationId: 'int',
    userId,
  });
  const res = await fetch(`${stack.url}/tickets`, { method: 'POST', headers: { 'x-auth-token': token } });
  const { url, seq } = (await res.json()) as { url: string; seq: number };
  const ws = new WebSocket(url);
  await new Promise((resolve) => ws.once('open', resolve));
  const snap = nextMessage(ws, 'snapshot');
  ws.send(JSON.stringify({ action: 'resume', after: seq }));
  await snap;
  sockets.push(ws);
}
await settle();
const perConnection = delta(before, snapshot(), SAMPLE_AGENTS);

before = snapshot();
for (const ws of sockets) {
  for (let i = 0; i < SAMPLE_PINGS; i++) {
    const pong = nextMessage(ws, 'pong');
    ws.send('{"action":"ping"}');
    await pong;
  }
}
await settle();
const perPing = delta(before, snapshot(), SAMPLE_AGENTS * SAMPLE_PINGS);

before = snapshot();
let webhookId = 0;
for (let i = 0; i < SAMPLE_CALLS; i++) {
  const ext = `${100 + (i % SAMPLE_AGENTS) + 1}`;
  for (const type of ['call.ringing', 'call.answered', 'call.ended']) {
    const body = JSON.stringify({
      version: 1,
      type,
      call: { id: `cost-${i}`, direction: 'inbound', from: '+15551234567', to: ext },
      agents: { extensions: [ext] },
      occurredAt: new Date().toISOString(),
    });
    const id = `msg_cost_${++webhookId}`;
    const secret = account.webhookSecrets[0]?.secret ?? '';
    const res = await fetch(`${stack.url}/webhooks/acme`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...signWebhook(secret, id, Math.floor(Date.now() / 1000), body),
      },
      body,
    });
    if (res.status !== 202) throw new Error(`webhook answered ${res.status}`);
  }
}
await settle();
const perCall = delta(before, snapshot(), SAMPLE_CALLS);

before = snapshot();
for (const ws of sockets) ws.close();
await settle();
const perDisconnect = delta(before, snapshot(), SAMPLE_AGENTS);
await stack.stop();

// --- the model ---

const agentCount = Number(values.agents);
const callsPerDay = Number(values['calls-per-day']);
const hours = Number(values['hours-per-day']);
const days = Number(values.days);
// The widget rolls its socket over at 110 minutes (API Gateway's limit is 2 h) and pings every 4 minutes.
const connectionsPerAgentDay = Math.ceil((hours * 60) / 110);
const pingsPerAgentDay = (hours * 60) / 4;

const dollars = (usage: Usage, times: number) => {
  let lambda = 0;
  let invocations = 0;
  for (const [name, inv] of Object.entries(usage.invocations)) {
    const memoryGb = FUNCTIONS[name as FunctionName].memoryMb / 1024;
    invocations += inv.count * times;
    lambda +=
      (inv.count * times * PRICES.lambdaPerMillionRequests) / 1e6 +
      ((inv.totalMs * times) / 1000) * memoryGb * PRICES.lambdaPerGbSecond;
  }
  return {
    dynamo:
      (usage.rcu * times * PRICES.dynamoPerMillionReadUnits) / 1e6 +
      (usage.wcu * times * PRICES.dynamoPerMillionWriteUnits) / 1e6,
    lambda,
    // About 250 bytes of JSON log per invocation.
    logs: ((invocations * 250) / 1024 ** 3) * PRICES.cloudWatchLogsPerGbIngested,
    http: (usage.httpRequests * times * PRICES.httpApiPerMillionRequests) / 1e6,
    messages: (usage.messages * times * PRICES.webSocketPerMillionMessages) / 1e6,
  };
};
const fixed = FIXED.kmsKeys * PRICES.kmsPerKeyMonth + FIXED.alarms * PRICES.cloudWatchPerAlarmMonth;
const sum = (...parts: ReturnType<typeof dollars>[]) =>
  parts.reduce(
    (a, b) => ({
      dynamo: a.dynamo + b.dynamo,
      lambda: a.lambda + b.lambda,
      logs: a.logs + b.logs,
      http: a.http + b.http,
      messages: a.messages + b.messages,
    }),
    { dynamo: 0, lambda: 0, logs: 0, http: 0, messages: 0 },
  );
const agentDays = agentCount * days;
const load = sum(
  dollars(perConnection, agentDays * connectionsPerAgentDay),
  dollars(perDisconnect, agentDays * connectionsPerAgentDay),
  dollars(perPing, agentDays * pingsPerAgentDay),
  dollars(perCall, callsPerDay * days),
);
const connectionMinutes = agentDays * hours * 60;
const minutes = (connectionMinutes * PRICES.webSocketPerMillionConnectionMinutes) / 1e6;

const r = (n: number, d = 2) => n.toFixed(d);
const fmtUsage = (u: Usage) =>
  `${r(u.rcu, 1)} RRU · ${r(u.wcu, 1)} WRU · ${Object.entries(u.invocations)
    .map(([n, i]) => `${n} ×${r(i.count, 1)} (${r(i.totalMs / i.count, 0)} ms)`)
    .join(', ')} · ${r(u.messages, 1)} WebSocket messages · ${r(u.httpRequests, 1)} HTTP requests`;

console.log('Measured on the local stack (per unit):');
console.log(`  connection (ticket, connect, resume): ${fmtUsage(perConnection)}`);
console.log(`  disconnect:                           ${fmtUsage(perDisconnect)}`);
console.log(`  ping:                                 ${fmtUsage(perPing)}`);
console.log(`  call (ringing, answered, ended):      ${fmtUsage(perCall)}`);
console.log('');
console.log(
  `Model: ${agentCount} agents online ${hours} h a day, ${days} days a month; ${callsPerDay} calls a day; a socket per agent rolled over every 110 min; a ping every 4 min.`,
);
console.log('');
console.log('| per month (USD, us-east-1) | at rest | with that load |');
console.log('| --- | --- | --- |');
const row = (label: string, rest: number, busy: number) =>
  console.log(`| ${label} | ${r(rest)} | ${r(busy)} |`);
row('DynamoDB (on-demand requests)', 0, load.dynamo);
row('Lambda (requests and arm64 duration)', 0, load.lambda);
row('API Gateway WebSocket (messages)', 0, load.messages);
row('API Gateway WebSocket (connection minutes)', 0, minutes);
row('API Gateway HTTP API (requests)', 0, load.http);
row('CloudWatch Logs (ingestion)', 0, load.logs);
row(`KMS keys (${FIXED.kmsKeys}) and CloudWatch alarms (${FIXED.alarms})`, fixed, fixed);
const total = fixed + load.dynamo + load.lambda + load.messages + minutes + load.http + load.logs;
row('**total**', fixed, total);
console.log('');
console.log(
  'Not counted: storage (DynamoDB items expire within days; a few MB), data transfer out, and AWS free tiers. Lambda durations are wall times on this machine, loopback included: a rough upper bound for warm invocations in-region.',
);
process.exit(0);
