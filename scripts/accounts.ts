/**
 * npm run accounts -- <command> [options]
 *
 *   integration --client-id <uuid> --client-secret <secret key> --widget-code <code> [--redirect-uri URL]
 *   add --subdomain acme --integration-id <uuid> --client-secret <secret key> [--domain kommo.com] [--webhook-secret whsec_…]
 *       [--long-lived-token <jwt> [--widget-code <code>]]
 *   list
 *   rotate-webhook-secret --subdomain acme [--grace-hours 24]
 *   remove --subdomain acme
 *   connect twilio|telnyx|vonage|plivo|zadarma --subdomain acme <the provider's credential flags>
 *   disconnect <provider> --subdomain acme
 *
 * Target: the deployed stack (--outputs cdk-outputs.json, the default when that file exists) or the running
 * local stack (--local). New webhook secrets are printed once, here, and nowhere else.
 */
import { decodeJwt } from 'jose';
import { DynamoAccountStore } from '../lambdas/adapters/dynamo-accounts';
import { DynamoInstallationStore } from '../lambdas/adapters/dynamo-installations';
import { DynamoIntegrationStore } from '../lambdas/adapters/dynamo-integration';
import {
  connectProvider,
  DEFAULT_ROTATION_GRACE_MS,
  describeAccount,
  newAccount,
  providerWebhookUrl,
  rotateWebhookSecret,
} from '../lambdas/core/accounts';
import { HttpProblem } from '../lambdas/core/problem';
import type { ProviderCredentials } from '../lambdas/ports';
import { CREDENTIAL_FLAGS, CredentialError, providerCredentials } from '../lambdas/providers/credentials';
import { isProviderName, PROVIDER_NAMES, type ProviderName } from '../lambdas/providers/port';
import { HelpRequested, parseCommand, runCli, UsageError, usageText } from './cli';
import { resolveTarget } from './targets';

const spec = {
  usage: 'npm run accounts -- integration|add|list|rotate-webhook-secret|remove|connect|disconnect [options]',
  details: `  integration            --client-id ID --client-secret SECRET --widget-code CODE [--redirect-uri URL]
  add                    --subdomain S --integration-id ID --client-secret SECRET [--domain kommo.com] [--webhook-secret whsec_…]
                         [--long-lived-token JWT [--widget-code CODE]]
  list
  rotate-webhook-secret  --subdomain S [--grace-hours 24]
  remove                 --subdomain S
  connect twilio         --subdomain S --auth-token TOKEN
  connect telnyx         --subdomain S --public-key BASE64
  connect vonage         --subdomain S --signature-secret SECRET
  connect plivo          --subdomain S --auth-token TOKEN
  connect zadarma        --subdomain S --api-key KEY --api-secret SECRET
  disconnect PROVIDER    --subdomain S
  target:                [--outputs cdk-outputs.json] [--stack NAME] (AWS credentials from aws configure)
                         | --local [--local-file .local/stack.json] (the running npm start)`,
  examples: [
    'npm run accounts -- list --local',
    'npm run accounts -- rotate-webhook-secret --subdomain acme',
  ],
  options: {
    subdomain: { type: 'string' },
    'integration-id': { type: 'string' },
    'client-secret': { type: 'string' },
    domain: { type: 'string' },
    'webhook-secret': { type: 'string' },
    'grace-hours': { type: 'string' },
    'auth-token': { type: 'string' },
    'public-key': { type: 'string' },
    'signature-secret': { type: 'string' },
    'api-key': { type: 'string' },
    'api-secret': { type: 'string' },
    'client-id': { type: 'string' },
    'widget-code': { type: 'string' },
    'redirect-uri': { type: 'string' },
    'long-lived-token': { type: 'string' },
    outputs: { type: 'string' },
    stack: { type: 'string' },
    local: { type: 'boolean' },
    'local-file': { type: 'string' },
  },
  allowPositionals: true,
} as const;
const usage = usageText(spec);

export const runAccounts = async (
  argv: string[],
  print: (line: string) => void = console.log,
): Promise<void> => {
  let parsed: ReturnType<typeof parseCommand<typeof spec.options>>;
  try {
    parsed = parseCommand(spec, argv);
  } catch (error) {
    if (!(error instanceof HelpRequested)) throw error;
    print(error.message);
    return;
  }
  const { positionals, values } = parsed;
  const command = positionals[0];
  if (!command) throw new UsageError(`which command?\n${usage}`);
  const need = (name: keyof typeof values): string => {
    const value = values[name];
    if (typeof value !== 'string' || !value)
      throw new UsageError(`--${name} is required for "${command}"\n${usage}`);
    return value;
  };
  if (
    !['integration', 'add', 'list', 'rotate-webhook-secret', 'remove', 'connect', 'disconnect'].includes(
      command,
    )
  ) {
    throw new UsageError(`unknown command "${command}"\n${usage}`);
  }
  let provider: ProviderName | undefined;
  let credentials: Record<string, string> | undefined;
  if (command === 'connect' || command === 'disconnect') {
    const named = (positionals[1] ?? '').toLowerCase();
    if (!isProviderName(named)) {
      throw new UsageError(`${command}: expected a provider, one of ${PROVIDER_NAMES.join(', ')}\n${usage}`);
    }
    provider = named;
    if (command === 'connect') {
      // Each provider's credentials under its own flag names; checked before anything is touched.
      const flags: Record<string, string> = CREDENTIAL_FLAGS[named];
      const given = Object.fromEntries(
        Object.entries(flags).map(([field, flag]) => [
          field,
          values[flag as keyof typeof values] as string | undefined,
        ]),
      );
      try {
        credentials = providerCredentials(named, given);
      } catch (error) {
        if (error instanceof CredentialError) throw new UsageError(error.message);
        throw error;
      }
    }
  }
  // Every required flag is checked before anything is touched (or AWS credentials are looked for).
  const required: Record<string, (keyof typeof values)[]> = {
    integration: ['client-id', 'client-secret', 'widget-code'],
    add: ['subdomain', 'integration-id', 'client-secret'],
    'rotate-webhook-secret': ['subdomain'],
    remove: ['subdomain'],
    connect: ['subdomain'],
    disconnect: ['subdomain'],
  };
  for (const flag of required[command] ?? []) need(flag);
  const target = resolveTarget({
    local: values.local,
    outputs: values.outputs,
    stack: values.stack,
    localFile: values['local-file'],
  });
  const store = new DynamoAccountStore(target.dynamo, target.accountsTable);
  const now = Date.now();
  const kommoTable = () => {
    if (!target.kommoTable)
      throw new UsageError(`the ${target.describe} has no Kommo table; redeploy / restart it`);
    return target.kommoTable;
  };
  try {
    switch (command) {
      case 'integration': {
        const clientId = need('client-id').trim();
        const clientSecret = need('client-secret').trim();
        const widgetCode = need('widget-code').trim();
        if (!/^[A-Za-z0-9-]{1,64}$/.test(clientId))
          throw new UsageError('--client-id: expected the integration id (a uuid)');
        if (clientSecret.length < 16)
          throw new UsageError('--client-secret: expected the integration secret key (16+ characters)');
        if (!/^[A-Za-z0-9_-]{1,64}$/.test(widgetCode))
          throw new UsageError('--widget-code: expected the widget code');
        const api = target.httpApiUrl.replace(/\/$/, '');
        const redirectUri = values['redirect-uri'] ?? `${api}/oauth/kommo`;
        if (!/^https?:\/\/[^\s]+$/.test(redirectUri))
          throw new UsageError('--redirect-uri: expected an http(s) URL');
        await new DynamoIntegrationStore(target.dynamo, kommoTable()).putIntegration({
          clientId,
          clientSecret,
          redirectUri,
          widgetCode,
          updatedAt: now,
        });
        // Installed accounts verify disposable tokens with the integration's secret key: keep them in step.
        let updated = 0;
        for (const account of await store.listAccounts()) {
          if (
            account.kommoAccountId !== undefined &&
            account.integrationId === clientId &&
            account.clientSecret !== clientSecret
          ) {
            await store.putAccount({ ...account, clientSecret });
            updated++;
          }
        }
        print(
          `integration ${clientId} set in the ${target.describe}${updated ? ` (${updated} installed accounts updated)` : ''}`,
        );
        print(`Redirect URI (enter exactly this in Kommo):            ${redirectUri}`);
        print(`Access revoked notification web hook (enter in Kommo): ${api}/oauth/kommo/disabled`);
        return;
      }
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
        const longLived = values['long-lived-token'];
        if (longLived) {
          // Kommo's long-lived tokens are JWTs carrying account_id and exp (kommo-server.md §1.6, §1.8).
          let claims: ReturnType<typeof decodeJwt>;
          try {
            claims = decodeJwt(longLived);
          } catch {
            throw new UsageError(
              '--long-lived-token: expected the JWT Kommo shows once when it generates the token',
            );
          }
          const accountId = Number(claims.account_id);
          if (!Number.isSafeInteger(accountId) || accountId <= 0 || typeof claims.exp !== 'number') {
            throw new UsageError('--long-lived-token: the token has no account_id or exp claim');
          }
          if (claims.exp * 1000 <= now) throw new UsageError('--long-lived-token: the token has expired');
          const installations = new DynamoInstallationStore(target.dynamo, kommoTable());
          const taken = await installations.getInstallation(accountId);
          if (taken && taken.subdomain !== account.subdomain && taken.status !== 'disabled') {
            throw new UsageError(`Kommo account ${accountId} is installed already as "${taken.subdomain}"`);
          }
          account.kommoAccountId = accountId;
          account.status = 'active';
          await installations.saveInstallation({
            accountId,
            subdomain: account.subdomain,
            baseDomain: `${account.subdomain}.${account.domain}`,
            status: 'active',
            tokens: {
              accessToken: longLived,
              refreshToken: '',
              expiresAt: claims.exp * 1000,
              refreshIssuedAt: now,
              longLived: true,
            },
            installedAt: now,
            updatedAt: now,
            ...(values['widget-code'] ? { widgetCode: values['widget-code'] } : {}),
          });
        }
        await store.putAccount(account);
        print(`added ${account.subdomain}.${account.domain} to the ${target.describe}`);
        if (longLived)
          print(
            `long-lived token stored (expires ${new Date((decodeJwt(longLived).exp ?? 0) * 1000).toISOString()})`,
          );
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
      case 'connect':
      case 'disconnect': {
        const subdomain = need('subdomain').toLowerCase();
        const account = await store.getAccount(subdomain);
        if (!account) throw new UsageError(`no account "${subdomain}" in the ${target.describe}`);
        if (!provider) throw new UsageError(usage);
        if (command === 'disconnect') {
          const { [provider]: _removed, ...rest } = account.providers ?? {};
          await store.putAccount({ ...account, providers: rest });
          print(
            `disconnected ${provider} from ${subdomain}; its webhooks are now refused (within 5 minutes on AWS)`,
          );
          return;
        }
        await store.putAccount(
          connectProvider(
            account,
            provider,
            credentials as NonNullable<ProviderCredentials[typeof provider]>,
          ),
        );
        print(`connected ${provider} to ${subdomain} in the ${target.describe}`);
        print(
          `paste this URL into ${provider}: ${providerWebhookUrl(target.httpApiUrl, subdomain, provider)}`,
        );
        print(`see README "Connect your phone system" for where it goes and which events to enable`);
        return;
      }
      case 'remove': {
        const subdomain = need('subdomain').toLowerCase();
        const existing = await store.getAccount(subdomain);
        if (!existing || !(await store.removeAccount(subdomain)))
          throw new UsageError(`no account "${subdomain}" in the ${target.describe}`);
        // Its Kommo tokens go with it: nothing may call Kommo for an account that no longer exists here.
        if (existing.kommoAccountId !== undefined && target.kommoTable) {
          await new DynamoInstallationStore(target.dynamo, target.kommoTable).removeInstallation(
            existing.kommoAccountId,
          );
        }
        print(`removed ${subdomain} from the ${target.describe}`);
        return;
      }
    }
  } finally {
    target.dynamo.destroy();
  }
};

if (import.meta.url === `file://${process.argv[1]}`) {
  runCli(async () => {
    try {
      await runAccounts(process.argv.slice(2));
    } catch (error) {
      // A refusal by our own rules (bad subdomain, bad secret): the caller's input, so exit 2.
      if (error instanceof HttpProblem) throw new UsageError(error.message);
      throw error;
    }
  });
}
