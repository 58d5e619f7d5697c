/**
 * The local stack wired to a Kommo emulator, with the deployment's integration set: what a test of the
 * install flow starts from. Both sides share one clock offset so tests can move time (token expiry, purge).
 */
import { KommoEmulator } from '../../infra/local/kommo/emulator';
import type { EmulatedAccount } from '../../infra/local/kommo/model';
import { mintKommoToken } from '../../infra/local/kommo-token';
import { assertNoDenials, type LocalStackOptions, startLocalStack } from '../../infra/local/stack';

export const CLIENT_ID = '2d0f1f3c-6a5e-4b7a-9a41-6a3f0c6a1b2e';
export const CLIENT_SECRET = 'kommo-public-integration-secret-key-0123456789abcdef';
export const WIDGET_CODE = 'callbridge';

export const acmeAccount = (): EmulatedAccount => ({
  id: 30_001,
  subdomain: 'acme',
  users: [
    { id: 201, name: 'Ada Admin', isAdmin: true },
    { id: 202, name: 'Linus Agent' },
    { id: 203, name: 'Grace Gone', isActive: false },
    { id: 204, name: 'Fred Free', isFree: true },
  ],
  contacts: [
    { id: 7001, name: 'Katherine Johnson', phones: ['+1 555 123 4567'] },
    { id: 7002, name: 'Alan Turing', phones: ['+44 20 7946 0958'], leads: [8001] },
  ],
  // 203 is inactive, 204 a free seat, 999 no user at all: only 201 and 202 may take calls.
  widgetSettings: { phones: { '201': '101', '202': '102', '203': '103', '204': '104', '999': '109' } },
});

export interface WorldOptions {
  stack?: LocalStackOptions;
  accounts?: EmulatedAccount[];
  rateLimit?: ConstructorParameters<typeof KommoEmulator>[0]['rateLimit'];
  /** Server-to-server fetch; tests under happy-dom pass nodeFetch. */
  fetch?: (url: string, init: RequestInit) => Promise<Response>;
}

export const startKommoWorld = async (options: WorldOptions = {}) => {
  const time = { offsetMs: 0 };
  const now = () => Date.now() + time.offsetMs;
  const kommo = new KommoEmulator({
    accounts: options.accounts ?? [acmeAccount()],
    integration: {
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      redirectUri: 'pending',
      widgetCode: WIDGET_CODE,
    },
    now,
    rateLimit: options.rateLimit,
    fetch: options.fetch,
  });
  await kommo.listen();
  const stack = await startLocalStack({
    accountCacheMs: 0,
    clock: { now },
    ...options.stack,
    kommo: {
      apiOrigin: kommo.url,
      fetch: options.fetch,
      retry: { retries: 3, minDelayMs: 20, maxDelayMs: 100 },
      pollMs: 20,
      ...options.stack?.kommo,
    },
  });
  kommo.integration.redirectUri = `${stack.url}/oauth/kommo`;
  kommo.integration.disableHookUrl = `${stack.url}/oauth/kommo/disabled`;
  await stack.kommo.integrations.putIntegration({
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    redirectUri: kommo.integration.redirectUri,
    widgetCode: WIDGET_CODE,
    updatedAt: Date.now(),
  });

  /** A disposable token as Kommo's $authorizedAjax would send it for this integration. */
  const widgetToken = (userId: number, isAdmin = false, subdomain = 'acme') =>
    mintKommoToken({
      subdomain,
      clientSecret: CLIENT_SECRET,
      integrationId: CLIENT_ID,
      userId,
      isAdmin,
      accountId: 30_001,
    });

  const install = async (accountId = 30_001) => {
    const hook = await kommo.installWidget(accountId);
    const outcomes = await stack.kommo.idle();
    return { hook, outcomes };
  };

  return {
    kommo,
    stack,
    time,
    widgetToken,
    install,
    async stop() {
      await stack.stop();
      await kommo.close();
      assertNoDenials(stack);
    },
  };
};

export type KommoWorld = Awaited<ReturnType<typeof startKommoWorld>>;
