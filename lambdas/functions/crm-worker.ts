/** SQS: calls into Kommo (call-log entries, incoming leads, missed-call tasks, the bell). */
import { DynamoCrmLedger } from '../adapters/dynamo-crm-ledger';
import { DynamoPopupAcks } from '../adapters/dynamo-popup-acks';
import { makeCrmWorkerHandler } from '../handlers/crm-worker';
import { FUNCTIONS } from './manifest';
import { dynamoClient, environment, kommo, stateStore } from './wiring';

const env = environment('crmWorker');
const deps = kommo(
  { kommo: env.KOMMO_TABLE, accounts: env.ACCOUNTS_TABLE, state: env.STATE_TABLE },
  'crm-worker',
  undefined,
  {},
  false,
);

export const handler = makeCrmWorkerHandler({
  accounts: deps.accounts,
  calls: stateStore(env.STATE_TABLE),
  acks: new DynamoPopupAcks(dynamoClient(), env.STATE_TABLE),
  ledger: new DynamoCrmLedger(dynamoClient(), env.KOMMO_TABLE),
  client: deps.client,
  clock: deps.clock,
  logger: deps.logger,
  // Past the function's timeout (60 s): a claim still "sending" after this belongs to a dead invocation.
  leaseMs: 120_000,
  maxReceives: FUNCTIONS.crmWorker.triggers[0].maxReceives,
});
