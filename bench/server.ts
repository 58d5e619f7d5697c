/**
 * The bench's stack in a process of its own, so the load generator does not share its CPU, with dynalite in
 * yet another: on AWS DynamoDB does not run on the function's CPU either.
 */
import { spawn } from 'node:child_process';
import { startDynalite, startLocalStack } from '../infra/local/stack';
import { newAccount } from '../lambdas/core/accounts';

if (process.argv[2] === 'dynamo') {
  const db = await startDynalite();
  process.stdout.write(`${db.endpoint}\n`);
} else {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/server.ts', 'dynamo'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const dynamoEndpoint = await new Promise<string>((resolve) => {
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      if (out.includes('\n')) resolve(out.split('\n')[0] ?? '');
    });
  });
  const clientSecret = 'bench-integration-secret-0123456789';
  const stack = await startLocalStack({
    accountCacheMs: 60_000,
    dynamoEndpoint,
    // The code's own cost, as measured before the strict DynamoDB front existed.
    strict: false,
    // The stack's own memory, for the soak's before/after report.
    extra: (req, res) => {
      if (req.url !== '/__memory') return false;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(process.memoryUsage()));
      return true;
    },
  });
  const account = newAccount({ subdomain: 'bench', integrationId: 'int-bench', clientSecret }, Date.now());
  await stack.accounts.putAccount(account);
  process.stdout.write(
    `${JSON.stringify({ url: stack.url, secret: account.webhookSecrets[0]?.secret, clientSecret })}\n`,
  );
  const stop = async () => {
    await stack.stop();
    child.kill('SIGTERM');
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
