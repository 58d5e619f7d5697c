/** The bench's stack in a process of its own, so the load generator does not share its CPU. */

import { startLocalStack } from '../infra/local/stack';
import { newAccount } from '../lambdas/core/accounts';

const clientSecret = 'bench-integration-secret-0123456789';
const stack = await startLocalStack({ accountCacheMs: 60_000 });
const account = newAccount({ subdomain: 'bench', integrationId: 'int-bench', clientSecret }, Date.now());
await stack.accounts.putAccount(account);
process.stdout.write(
  `${JSON.stringify({ url: stack.url, secret: account.webhookSecrets[0]?.secret, clientSecret })}\n`,
);
const stop = async () => {
  await stack.stop();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
