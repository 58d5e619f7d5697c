/**
 * Kommo section of `npm run bench`: the API client against the Kommo emulator (is the 7 requests/s limit kept
 * under a burst, at what rate), and what the retry/limit libraries add to a Lambda bundle.
 */
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { KommoEmulator } from '../infra/local/kommo/emulator';
import { startLocalStack } from '../infra/local/stack';
import { KommoClient } from '../lambdas/kommo/client';
import { KommoLimiter } from '../lambdas/kommo/limiter';
import { silentLogger } from '../lambdas/logger';
import type { Row } from './stats';

const CLIENT_ID = 'bench-integration';
const SECRET = 'bench-integration-secret-key-0123456789';

export const kommoBench = async (
  record: (row: Row) => void,
  scale: (full: number, quick: number) => number,
) => {
  console.log(
    '\n7. Kommo API client against the Kommo emulator (7 requests/s per integration, 429 then 403)',
  );
  const kommo = new KommoEmulator({
    accounts: [{ id: 1, subdomain: 'bench', users: [{ id: 1, name: 'Admin', isAdmin: true }] }],
    integration: {
      clientId: CLIENT_ID,
      clientSecret: SECRET,
      redirectUri: 'pending',
      widgetCode: 'callbridge',
    },
  });
  await kommo.listen();
  const stack = await startLocalStack({ kommo: { apiOrigin: kommo.url } });
  kommo.integration.redirectUri = `${stack.url}/oauth/kommo`;
  await stack.kommo.integrations.putIntegration({
    clientId: CLIENT_ID,
    clientSecret: SECRET,
    redirectUri: kommo.integration.redirectUri,
    widgetCode: 'callbridge',
    updatedAt: Date.now(),
  });
  await kommo.installWidget(1);
  await stack.kommo.idle();
  kommo.resetRateLimit();

  const client = new KommoClient({
    tokens: stack.kommo.deps.tokens,
    limiter: new KommoLimiter(),
    originFor: () => kommo.url,
    logger: silentLogger,
  });
  const requests = scale(60, 12);
  const before = kommo.requests.length;
  const started = performance.now();
  await Promise.all(Array.from({ length: requests }, () => client.get(1, '/api/v4/account')));
  const seconds = (performance.now() - started) / 1000;
  const sent = kommo.requests.slice(before);
  const worstSecond = Math.max(
    ...sent.map((r) => sent.filter((o) => o.at >= r.at && o.at < r.at + 1000).length),
  );
  const refused = sent.filter((r) => r.status === 429 || r.status === 403).length;
  record({
    section: 'kommo',
    metric: `${requests} concurrent GETs through one client: busiest second`,
    value: `${worstSecond} requests (${(requests / seconds).toFixed(1)}/s overall), ${refused} refused`,
    target: '≤ 7 in any second, 0 × 429/403',
    met: worstSecond <= 7 && refused === 0 && !kommo.blocked,
    data: { requests, seconds, worstSecond, refused },
  });

  const libs = await build({
    stdin: {
      contents:
        "import a from 'p-retry'; import b from 'p-throttle'; import c from 'p-limit'; console.log(a, b, c);",
      resolveDir: process.cwd(),
    },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'node',
    write: false,
  });
  const bytes = libs.outputFiles[0]?.contents ?? new Uint8Array();
  record({
    section: 'kommo',
    metric: 'p-retry + p-throttle + p-limit in a Lambda bundle',
    value: `${(bytes.byteLength / 1024).toFixed(1)} KB minified, ${(gzipSync(bytes).byteLength / 1024).toFixed(1)} KB gzip`,
    data: { bytes: bytes.byteLength, gzip: gzipSync(bytes).byteLength },
  });
  await stack.stop();
  await kommo.close();
};
