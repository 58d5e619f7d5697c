/**
 * npm run accounts -- <command> [options]
 *
 *   add --subdomain acme --integration-id <uuid> --client-secret <secret key> [--domain kommo.com] [--webhook-secret whsec_…]
 *   list
 *   rotate-webhook-secret --subdomain acme [--grace-hours 24]
 *   remove --subdomain acme
 *
 * Target: the deployed stack (--outputs cdk-outputs.json, the default when that file exists) or the running
 * local stack (--local). New webhook secrets are printed once, here, and nowhere else.
 */
import { parseArgs } from 'node:util';
import { DynamoAccountStore } from '../lambdas/adapters/dynamo-accounts';
import {
  DEFAULT_ROTATION_GRACE_MS,
  describeAccount,
  newAccount,
  rotateWebhookSecret,
} from '../lambdas/core/accounts';
import { HttpProblem } from '../lambdas/core/problem';
import { resolveTarget, UsageError } from './targets';

const usage = `usage: npm run accounts -- add|list|rotate-webhook-secret|remove [options]
  add                    --subdomain S --integration-id ID --client-secret SECRET [--domain kommo.com] [--webhook-secret whsec_…]
  list
  rotate-webhook-secret  --subdomain S [--grace-hours 24]
  remove                 --subdomain S
  target:                [--outputs cdk-outputs.json] [--stack NAME] | --local [--local-file .local/stack.json]`;

export const runAccounts = async (
  argv: string[],
  print: (line: string) => void = console.log,
): Promise<void> => {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      subdomain: { type: 'string' },
      'integration-id': { type: 'string' },
      'client-secret': { type: 'string' },
      domain: { type: 'string' },
      'webhook-secret': { type: 'string' },
      'grace-hours': { type: 'string' },
      outputs: { type: 'string' },
      stack: { type: 'string' },
      local: { type: 'boolean' },
      'local-file': { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  const command = positionals[0];
  if (values.help || !command) {
    print(usage);
    return;
  }
  const need = (name: keyof typeof values): string => {
    const value = values[name];
    if (typeof value !== 'string' || !value)
      throw new UsageError(`--${name} is required for "${command}"\n${usage}`);
    return value;
  };
  if (!['add', 'list', 'rotate-webhook-secret', 'remove'].includes(command)) {
    throw new UsageError(`unknown command "${command}"\n${usage}`);
  }
  const target = resolveTarget({
    local: values.local,
    outputs: values.outputs,
    stack: values.stack,
    localFile: values['local-file'],
  });
  const store = new DynamoAccountStore(target.dynamo, target.accountsTable);
  const now = Date.now();
  try {
    switch (command) {
      case 'add': {
        const account = newAccount(
          {
            subdomain: need('subdomain'),
            domain: values.domain,
            integrationId: need('integration-id'),
            clientSecret: need('client-secret'),
            webhookSecret: values['webhook-secret'],
          },
          now,
        );
        if (await store.getAccount(account.subdomain)) {
          throw new UsageError(
            `account "${account.subdomain}" exists already; remove it first or rotate its secret`,
          );
        }
        await store.putAccount(account);
        print(`added ${account.subdomain}.${account.domain} to the ${target.describe}`);
        print(`webhook URL:    ${target.httpApiUrl.replace(/\/$/, '')}/webhooks/${account.subdomain}`);
        print(
          `webhook secret: ${account.webhookSecrets[0]?.secret}   (shown once; give it to the phone system)`,
        );
        return;
      }
      case 'list': {
        const accounts = await store.listAccounts();
        if (accounts.length === 0) print(`no accounts in the ${target.describe}`);
        for (const account of accounts) print(JSON.stringify(describeAccount(account, now)));
        return;
      }
      case 'rotate-webhook-secret': {
        const subdomain = need('subdomain').toLowerCase();
        const account = await store.getAccount(subdomain);
        if (!account) throw new UsageError(`no account "${subdomain}" in the ${target.describe}`);
        const hours = Number(values['grace-hours'] ?? DEFAULT_ROTATION_GRACE_MS / 3600_000);
        if (!Number.isFinite(hours) || hours < 0 || hours > 24 * 30) {
          throw new UsageError('--grace-hours: expected a number of hours from 0 to 720');
        }
        const rotated = rotateWebhookSecret(account, now, hours * 3600_000);
        await store.putAccount(rotated);
        print(`new webhook secret for ${subdomain}: ${rotated.webhookSecrets[0]?.secret}   (shown once)`);
        print(
          `the previous secret keeps working for ${hours} h; functions pick the change up within 5 minutes`,
        );
        return;
      }
      case 'remove': {
        const subdomain = need('subdomain').toLowerCase();
        if (!(await store.removeAccount(subdomain)))
          throw new UsageError(`no account "${subdomain}" in the ${target.describe}`);
        print(`removed ${subdomain} from the ${target.describe}`);
        return;
      }
    }
  } finally {
    target.dynamo.destroy();
  }
};

if (import.meta.url === `file://${process.argv[1]}`) {
  runAccounts(process.argv.slice(2)).catch((error: unknown) => {
    if (error instanceof UsageError || error instanceof HttpProblem) {
      console.error(`error: ${error.message}`);
      process.exit(2);
    }
    console.error(error);
    process.exit(1);
  });
}
