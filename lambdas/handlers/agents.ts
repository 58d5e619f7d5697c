/**
 * GET/PUT /agents: the account's Kommo user → extension map (the widget's `users`-type setting).
 *
 * For an account installed from Kommo (OAuth), PUT is only a nudge: the backend re-reads the settings from
 * Kommo's API and ignores the browser's body. The body is trusted only for private integrations registered
 * with `accounts add`, which have no token to read Kommo with.
 */
import * as v from 'valibot';
import { type AccountSecrets, verifyKommoToken } from '../core/auth';
import { HttpProblem } from '../core/problem';
import type { AgentMap } from '../core/routing';
import { normaliseAgentMap } from '../core/routing';
import type { Account, AgentStore, Clock, Logger } from '../ports';
import { type HttpHandler, header, json, readJsonBody, withProblems } from './http';

export interface AgentsDeps {
  account: (
    subdomain: string,
  ) => Promise<(AccountSecrets & Pick<Account, 'kommoAccountId' | 'status'>) | undefined>;
  /** Re-read the map from Kommo for an installed account (absent where the backend cannot call Kommo). */
  syncFromKommo?: (kommoAccountId: number, subdomain: string) => Promise<AgentMap>;
  agents: AgentStore;
  clock: Clock;
  logger: Logger;
}

/** 10,000 users with 15-digit ids and 32-character extensions come to about 560 KB of JSON. */
const MAX_BODY_BYTES = 1024 * 1024;
export const MAX_AGENTS = 10_000;

const AgentMapBody = v.strictObject({
  agents: v.pipe(
    v.record(
      v.pipe(v.string(), v.regex(/^[1-9]\d{0,14}$/, 'expected a Kommo user id as the key')),
      v.pipe(
        v.string(),
        v.trim(),
        v.regex(/^(?:[0-9A-Za-z*#_.-]{1,32})?$/, 'expected an extension of 1-32 characters or ""'),
      ),
    ),
    v.check((map) => Object.keys(map).length <= MAX_AGENTS, `expected at most ${MAX_AGENTS} users`),
  ),
});

export const makeAgentsHandler = (deps: AgentsDeps): HttpHandler =>
  withProblems(deps.logger, async (event) => {
    const method = event.requestContext.http.method;
    if (method !== 'GET' && method !== 'PUT') {
      throw new HttpProblem(405, 'method_not_allowed', 'use GET or PUT /agents', undefined, {
        allow: 'GET, PUT',
      });
    }
    const now = deps.clock.now();
    const identity = await verifyKommoToken(header(event, 'x-auth-token'), deps.account, new Date(now));
    if (method === 'GET') {
      return json(200, { agents: await deps.agents.getAgentMap(identity.subdomain) });
    }
    if (!identity.isAdmin) {
      throw new HttpProblem(
        403,
        'forbidden',
        'only a Kommo account administrator may change the extension map',
      );
    }
    const account = await deps.account(identity.subdomain);
    if (account?.kommoAccountId !== undefined && deps.syncFromKommo) {
      if (account.status === 'needs_reauth' || account.status === 'disabled') {
        throw new HttpProblem(
          409,
          'conflict',
          'Callbridge lost its access to this Kommo account: install the integration again, then save',
        );
      }
      let map: AgentMap;
      try {
        map = await deps.syncFromKommo(account.kommoAccountId, identity.subdomain);
      } catch (error) {
        deps.logger.warn('agent map sync from kommo failed', {
          subdomain: identity.subdomain,
          error: error instanceof Error ? error.name : 'unknown',
          code: (error as { code?: unknown }).code,
        });
        throw new HttpProblem(
          503,
          'unavailable',
          'Kommo could not be read just now; save again, or wait for the next sync (every 6 hours)',
        );
      }
      deps.logger.info('agent map synced from kommo', {
        subdomain: identity.subdomain,
        by: identity.userId,
        agents: Object.keys(map).length,
      });
      return json(200, { agents: map, source: 'kommo' });
    }
    const { agents } = readJsonBody(event, MAX_BODY_BYTES, AgentMapBody);
    const map = normaliseAgentMap(agents);
    await deps.agents.putAgentMap(identity.subdomain, map, identity.userId, now);
    deps.logger.info('agent map replaced', {
      subdomain: identity.subdomain,
      by: identity.userId,
      agents: Object.keys(map).length,
    });
    return json(200, { agents: map });
  });
