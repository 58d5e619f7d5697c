/**
 * npm run call -- ringing|answered|ended|missed [--from +15551234567] [--ext 101] [--user 101] [--call ID]
 *                 [--url URL --subdomain SUB --secret whsec_…]
 *
 * Signs one call webhook as a phone system would and prints the response. Without --url it targets the running
 * local stack (reading its account's secret). `ringing` starts a new call and remembers it (id, caller,
 * extensions, users) in .local/last-call.json; answered/ended/missed continue that call unless told otherwise,
 * so a follow-up reaches the agents the call rang and names the same caller. Any non-2xx answer exits 1.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { sendSignedCall } from '../infra/local/signed-call';
import { localDynamoClient } from '../infra/local/stack';
import { DynamoAccountStore } from '../lambdas/adapters/dynamo-accounts';
import { CliError, parseCommand, runCli, UsageError, usageText } from './cli';
import { readLocalInfo } from './targets';

const LAST_CALL = '.local/last-call.json';

const spec = {
  usage: `npm run call -- ringing|answered|ended|missed [options]`,
  details: `  --from NUMBER        the caller (default +15551234567; follow-ups: the call's caller)
  --ext EXT            an extension to ring, repeatable (follow-ups: the call's extensions)
  --user ID            a Kommo user id to ring, repeatable
  --call ID            the call id (ringing: a new one; follow-ups: the last call's)
  --to NUMBER          the number dialled (default "ext EXT" or "pbx")
  --outbound           an outgoing call
  --url URL --subdomain SUB --secret whsec_…   any deployment instead of the local stack
  --local-file FILE    the local stack's state file (default .local/stack.json)
  Without --ext or --user a call rings every agent of the account.`,
  examples: [
    'npm run call -- ringing --from +15551234567 --ext 101',
    'npm run call -- answered        # the same call, the same agents',
    'npm run call -- missed --call cli-abc123',
  ],
  options: {
    from: { type: 'string' },
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
  allowPositionals: true,
} as const;

const TYPES = {
  ringing: 'call.ringing',
  answered: 'call.answered',
  ended: 'call.ended',
  missed: 'call.ended',
} as const;
type Kind = keyof typeof TYPES;

/** What `ringing` remembers for the follow-ups of the same call. */
interface LastCall {
  callId: string;
  from?: string;
  to?: string;
  extensions?: string[];
  users?: number[];
}

const readLastCall = (file: string): LastCall | undefined => {
  if (!existsSync(file)) return undefined;
  try {
    const saved = JSON.parse(readFileSync(file, 'utf8')) as Partial<LastCall>;
    return typeof saved.callId === 'string' ? (saved as LastCall) : undefined;
  } catch {
    return undefined;
  }
};

// The rules of lambdas/core/protocol.ts, checked here first so the message names the flag and the problem.
const EXTENSION = /^[0-9A-Za-z*#_.-]{1,32}$/;
const checkExtension = (ext: string) => {
  if (EXTENSION.test(ext)) return ext;
  if (/\s/.test(ext))
    throw new UsageError(
      `--ext "${ext}": an extension cannot contain spaces; give the extension alone, such as --ext ${/[0-9A-Za-z*#_.-]+$/.exec(ext.trim())?.[0] ?? '101'}`,
    );
  if (ext.length === 0 || ext.length > 32)
    throw new UsageError(`--ext "${ext}": expected 1-32 characters, got ${ext.length}`);
  throw new UsageError(`--ext "${ext}": an extension may only hold 0-9 A-Z a-z * # _ . -`);
};
const checkNumber = (flag: string, value: string) => {
  if (!/[0-9]/.test(value))
    throw new UsageError(`${flag} "${value}": expected a phone number with digits, such as +15551234567`);
  if (!/^[0-9A-Za-z+*#.@:_ ()-]{1,64}$/.test(value))
    throw new UsageError(
      `${flag} "${value}": expected 1-64 characters from 0-9 A-Z a-z + * # . @ : _ ( ) - and space`,
    );
  return value;
};
const checkUser = (user: string) => {
  const id = Number(user);
  if (!Number.isSafeInteger(id) || id < 1)
    throw new UsageError(`--user "${user}": expected a Kommo user id (a number)`);
  return id;
};

/** What the answer means for a person at the terminal: who was rung, or why nobody was. */
const warningsFor = (body: unknown): string[] => {
  if (!body || typeof body !== 'object') return [];
  const answer = body as {
    status?: unknown;
    users?: unknown;
    unmatchedExtensions?: unknown;
    reason?: unknown;
  };
  const warnings: string[] = [];
  const unmatched = Array.isArray(answer.unmatchedExtensions) ? answer.unmatchedExtensions.map(String) : [];
  if (answer.status === 'ignored' && typeof answer.reason === 'string') {
    warnings.push(`warning: nothing happened: ${answer.reason}`);
  } else if (answer.users === 0) {
    warnings.push(
      unmatched.length > 0
        ? `warning: nobody was rung: extension ${unmatched.join(', ')} ${unmatched.length > 1 ? 'are' : 'is'} not mapped to a Kommo user (widget settings, or PUT /agents)`
        : 'warning: nobody was rung: the account has no agents for this call',
    );
  } else if (unmatched.length > 0) {
    warnings.push(
      `warning: extension ${unmatched.join(', ')} ${unmatched.length > 1 ? 'are' : 'is'} not mapped to any Kommo user`,
    );
  }
  return warnings;
};

export const runCall = async (
  argv: string[],
  print: (line: string) => void = console.log,
  warn: (line: string) => void = console.error,
) => {
  const { positionals, values } = parseCommand(spec, argv);
  const kind = positionals[0];
  if (!kind) throw new UsageError(`which call state? ringing, answered, ended or missed\n${usageText(spec)}`);
  if (!(kind in TYPES))
    throw new UsageError(
      `unknown call state "${kind}": expected ringing, answered, ended or missed\n${usageText(spec)}`,
    );
  if (positionals.length > 1)
    throw new UsageError(`unexpected argument "${positionals[1]}"\n${usageText(spec)}`);
  const extensions = values.ext?.map(checkExtension);
  const users = values.user?.map(checkUser);
  if (values.from !== undefined) checkNumber('--from', values.from);
  if (values.to !== undefined && !/^[0-9A-Za-z+*#.@:_ ()-]{1,64}$/.test(values.to))
    throw new UsageError(
      `--to "${values.to}": expected 1-64 characters from 0-9 A-Z a-z + * # . @ : _ ( ) - and space`,
    );

  let { url, subdomain, secret } = values;
  const localFile = values['local-file'];
  if (!url) {
    const info = readLocalInfo(localFile);
    url = info.url;
    subdomain ??= info.account.subdomain;
    if (!secret) {
      const dynamo = localDynamoClient(info.dynamoEndpoint);
      try {
        const account = await new DynamoAccountStore(dynamo, info.tables.accounts).getAccount(subdomain);
        secret = account?.webhookSecrets[0]?.secret;
      } catch (error) {
        if (
          (error as { cause?: { code?: unknown } }).cause?.code === 'ECONNREFUSED' ||
          (error as { code?: unknown }).code === 'ECONNREFUSED'
        )
          throw new CliError(
            `the local stack in ${localFile ?? '.local/stack.json'} is not running: start it with npm start`,
          );
        throw error;
      } finally {
        dynamo.destroy();
      }
      if (!secret) throw new UsageError(`the local stack has no account "${subdomain}"`);
    }
  }
  if (!subdomain || !secret)
    throw new UsageError(`--subdomain and --secret are required with --url\n${usageText(spec)}`);

  // Kept next to the stack's own state, so each local stack folder remembers its own last call.
  const lastFile = localFile ? `${dirname(localFile)}/last-call.json` : LAST_CALL;
  const last = kind === 'ringing' ? undefined : readLastCall(lastFile);
  const sameCall = last && (values.call === undefined || values.call === last.callId) ? last : undefined;
  const callId = values.call ?? sameCall?.callId ?? `cli-${Date.now().toString(36)}`;
  if (kind !== 'ringing' && !values.call && !last)
    warn(`warning: no earlier call remembered in ${lastFile}; sending ${kind} for a new call ${callId}`);
  const call: LastCall = {
    callId,
    from: values.from ?? sameCall?.from ?? '+15551234567',
    to: values.to ?? (extensions?.[0] ? `ext ${extensions[0]}` : (sameCall?.to ?? 'pbx')),
    extensions: extensions ?? (users ? undefined : sameCall?.extensions),
    users: users ?? (extensions ? undefined : sameCall?.users),
  };
  let result: Awaited<ReturnType<typeof sendSignedCall>>;
  try {
    result = await sendSignedCall({
      url,
      subdomain,
      secret,
      type: TYPES[kind as Kind],
      callId,
      from: call.from ?? '+15551234567',
      to: call.to ?? 'pbx',
      direction: values.outbound ? 'outbound' : 'inbound',
      ...(call.extensions ? { extensions: call.extensions } : {}),
      ...(call.users ? { users: call.users } : {}),
      ...(kind === 'missed' ? { extra: { outcome: 'missed' } } : {}),
    });
  } catch (error) {
    if ((error as { cause?: { code?: unknown } }).cause?.code === 'ECONNREFUSED')
      throw new CliError(
        `nothing answers at ${url}: is the stack running? (npm start, or --url for a deployment)`,
      );
    throw error;
  }
  const ok = result.status >= 200 && result.status < 300;
  // Only a call the backend took is worth continuing.
  if (ok) {
    mkdirSync(dirname(lastFile), { recursive: true });
    writeFileSync(lastFile, JSON.stringify(call));
  }
  const audience = call.extensions
    ? `ext ${call.extensions.join(', ')}`
    : call.users
      ? `user ${call.users.join(', ')}`
      : 'every agent';
  print(
    `POST ${url.replace(/\/+$/, '')}/webhooks/${subdomain}  ${kind} call ${callId} from ${call.from} to ${audience}  (webhook-id ${result.webhookId})`,
  );
  print(`${result.status} ${typeof result.body === 'string' ? result.body : JSON.stringify(result.body)}`);
  if (ok) for (const line of warningsFor(result.body)) warn(line);
  return { ...result, ok };
};

if (import.meta.url === `file://${process.argv[1]}`) {
  runCli(async () => {
    const result = await runCall(process.argv.slice(2));
    // The answer is printed above; a refusal (4xx/5xx) must fail scripts that use this.
    if (!result.ok) process.exit(1);
  });
}
