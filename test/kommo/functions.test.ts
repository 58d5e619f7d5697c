/** The Kommo functions fail at cold start naming what is missing or malformed, before serving anything. */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const load =
  (file: string, env: Record<string, string> = {}) =>
  () =>
    execFileSync(
      process.execPath,
      ['--import', 'tsx', '-e', `await import('./lambdas/functions/${file}.ts')`],
      {
        env: { PATH: process.env.PATH, AWS_REGION: 'eu-west-1', ...env },
        stdio: 'pipe',
      },
    );

describe('Kommo functions at cold start', () => {
  it('name every missing variable', () => {
    expect(load('kommo-maintenance')).toThrow(
      /missing environment variable\(s\): KOMMO_TABLE, ACCOUNTS_TABLE, STATE_TABLE/,
    );
    expect(load('oauth-redirect')).toThrow(
      /missing environment variable\(s\): KOMMO_TABLE, INSTALL_FUNCTION_NAME/,
    );
    expect(load('oauth-disabled')).toThrow(/KOMMO_TABLE, ACCOUNTS_TABLE, STATE_TABLE, WS_CALLBACK_URL/);
  }, 30_000);

  it('refuse a KOMMO_API_ORIGIN that is not an origin', () => {
    const env = { KOMMO_TABLE: 'k', ACCOUNTS_TABLE: 'a', STATE_TABLE: 's' };
    expect(load('kommo-install', { ...env, KOMMO_API_ORIGIN: 'http://127.0.0.1:8788/api' })).toThrow(
      /KOMMO_API_ORIGIN: expected an origin without a path/,
    );
    expect(load('kommo-install', { ...env, KOMMO_API_ORIGIN: 'http://127.0.0.1:8788' })).not.toThrow();
  }, 30_000);
});
