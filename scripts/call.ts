/**
 * npm run call -- ringing|answered|ended|missed [--from +15551234567] [--ext 101] [--user 101] [--call ID]
 *                 [--url URL --subdomain SUB --secret whsec_…]
 *
 * Signs one call webhook as a phone system would and prints the response. Without --url it targets the running
 * local stack (reading its account's secret); answered/ended/missed reuse the last call id unless --call is given.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { sendSignedCall } from '../infra/local/signed-call';
import { localDynamoClient } from '../infra/local/stack';
import { DynamoAccountStore } from '../lambdas/adapters/dynamo-accounts';
import { readLocalInfo, UsageError } from './targets';

const LAST_CALL = '.local/last-call.json';
const usage = `usage: npm run call -- ringing|answered|ended|missed [--from NUMBER] [--ext EXT]... [--user ID]... [--call ID]
                     [--url URL --subdomain SUB --secret whsec_…] [--local-file .local/stack.json]`;

export const runCall = async (argv: string[], print: (line: string) => void = console.log) => {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      from: { type: 'string', default: '+15551234567' },
      to: { type: 'string' },
      ext: { type: 'string', multiple: true },
      user: { type: 'string', multiple: true },
      call: { type: 'string' },
      url: { type: 'string' },
      subdomain: { type: 'string' },
      secret: { type: 'string' },
      'local-file': { type: 'string' },
      outbound: { type: 'boolean' },
    },
  });
  const kind = positionals[0];
  const types = {
    ringing: 'call.ringing',
    answered: 'call.answered',
    ended: 'call.ended',
    missed: 'call.ended',
  } as const;
  if (!kind || !(kind in types)) throw new UsageError(usage);

  let { url, subdomain, secret } = values;
  if (!url) {
    const info = readLocalInfo(values['local-file']);
    url = info.url;
    subdomain ??= info.account.subdomain;
    if (!secret) {
      const dynamo = localDynamoClient(info.dynamoEndpoint);
      const account = await new DynamoAccountStore(dynamo, info.tables.accounts).getAccount(subdomain);
      dynamo.destroy();
      secret = account?.webhookSecrets[0]?.secret;
      if (!secret) throw new UsageError(`the local stack has no account "${subdomain}"`);
    }
  }
  if (!subdomain || !secret)
    throw new UsageError(`--subdomain and --secret are required with --url\n${usage}`);

  const last = existsSync(LAST_CALL)
    ? (JSON.parse(readFileSync(LAST_CALL, 'utf8')) as { callId?: string })
    : {};
  const callId =
    values.call ??
    (kind === 'ringing'
      ? `cli-${Date.now().toString(36)}`
      : (last.callId ?? `cli-${Date.now().toString(36)}`));
  const result = await sendSignedCall({
    url,
    subdomain,
    secret,
    type: types[kind as keyof typeof types],
    callId,
    from: values.from ?? '+15551234567',
    to: values.to ?? (values.ext?.[0] ? `ext ${values.ext[0]}` : 'pbx'),
    direction: values.outbound ? 'outbound' : 'inbound',
    ...(values.ext ? { extensions: values.ext } : {}),
    ...(values.user ? { users: values.user.map(Number) } : {}),
    ...(kind === 'missed' ? { extra: { outcome: 'missed' } } : {}),
  });
  mkdirSync('.local', { recursive: true });
  writeFileSync(LAST_CALL, JSON.stringify({ callId }));
  print(
    `POST ${url.replace(/\/+$/, '')}/webhooks/${subdomain}  ${kind} call ${callId}  (webhook-id ${result.webhookId})`,
  );
  print(`${result.status} ${typeof result.body === 'string' ? result.body : JSON.stringify(result.body)}`);
  return result;
};

if (import.meta.url === `file://${process.argv[1]}`) {
  runCall(process.argv.slice(2)).catch((error: unknown) => {
    console.error(error instanceof UsageError ? `error: ${error.message}` : error);
    process.exit(error instanceof UsageError ? 2 : 1);
  });
}
