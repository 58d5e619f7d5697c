/**
 * The Kommo integration's two hooks.
 *
 * GET /oauth/kommo (the Redirect URI): Kommo calls it when an admin installs the widget (a webhook it gives
 * 3 s and never resends) or a browser lands on it after the consent page. The code is stored FIRST, the
 * exchange is started asynchronously, and the answer goes out at once.
 *
 * GET /oauth/kommo/disabled (the "access revoked" hook): signed by Kommo with the secret key; a bad
 * signature changes nothing.
 */
import { HttpProblem } from '../core/problem';
import { verifyDisableSignature } from '../kommo/disable-signature';
import type { InstallCodeStore, Integration } from '../kommo/ports';
import { parseDisableHook, parseRedirect } from '../kommo/redirect';
import { errorFields } from '../logger';
import type { Clock, Logger } from '../ports';
import { pendingInstallFrom } from '../usecases/kommo-install';
import { type HttpHandler, type HttpResult, json, withProblems } from './http';

export interface OAuthRedirectDeps {
  integration: () => Promise<Integration | undefined>;
  codes: Pick<InstallCodeStore, 'saveCode'>;
  /** Start the exchange without waiting for it (Lambda async invoke on AWS; a background task locally). */
  startExchange: (codeId: string) => Promise<void>;
  clock: Clock;
  logger: Logger;
}

const page = (status: number, title: string, text: string): HttpResult => ({
  statusCode: status,
  headers: {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'",
    'referrer-policy': 'no-referrer',
  },
  // Fixed texts only: nothing from the query string is echoed into the page.
  body: `<!doctype html><html lang="en"><meta charset="utf-8"><title>${title}</title><body style="font:15px system-ui;margin:3em auto;max-width:36em"><h1>${title}</h1><p>${text}</p></body></html>`,
});

const query = (event: Parameters<HttpHandler>[0]) =>
  (event.queryStringParameters ?? {}) as Record<string, string | undefined>;

const notConfigured = () =>
  new HttpProblem(
    503,
    'not_configured',
    'no Kommo integration is configured: npm run accounts -- integration --client-id … --client-secret …',
  );

export const makeOAuthRedirectHandler = (deps: OAuthRedirectDeps): HttpHandler =>
  withProblems(deps.logger, async (event) => {
    const parsed = parseRedirect(query(event));
    if (parsed.kind === 'invalid') {
      throw new HttpProblem(
        400,
        'invalid_body',
        `${parsed.issues[0]?.field}: ${parsed.issues[0]?.message}`,
        parsed.issues,
      );
    }
    if (parsed.kind === 'declined') {
      deps.logger.info('kommo install declined');
      return page(
        200,
        'Callbridge was not installed',
        'Access was declined in Kommo. Nothing was stored; you can close this window.',
      );
    }
    const integration = await deps.integration();
    if (!integration) throw notConfigured();
    if (parsed.clientId !== integration.clientId) {
      throw new HttpProblem(
        400,
        'invalid_body',
        'client_id: expected this deployment’s Kommo integration id',
      );
    }
    const pending = pendingInstallFrom(parsed, deps.clock.now());
    const fresh = await deps.codes.saveCode(pending);
    if (fresh) {
      try {
        await deps.startExchange(pending.id);
      } catch (error) {
        // The code is stored: the hourly sweep exchanges it well within its 20 minutes.
        deps.logger.warn('kommo exchange could not be started', errorFields(error));
      }
    }
    deps.logger.info('kommo install code received', {
      subdomain: pending.subdomain,
      fromWidget: pending.fromWidget,
      fresh,
    });
    return page(
      200,
      'Callbridge is being installed',
      'Kommo granted access. Callbridge is finishing the installation in the background; you can close this window and open the widget’s settings in Kommo.',
    );
  });

export interface DisableHookDeps {
  integration: () => Promise<Integration | undefined>;
  disable: (accountId: number) => Promise<{ status: string }>;
  logger: Logger;
}

export const makeDisableHookHandler = (deps: DisableHookDeps): HttpHandler =>
  withProblems(deps.logger, async (event) => {
    const parsed = parseDisableHook(query(event));
    if (!parsed.ok) {
      throw new HttpProblem(
        400,
        'invalid_body',
        `${parsed.issues[0]?.field}: ${parsed.issues[0]?.message}`,
        parsed.issues,
      );
    }
    const integration = await deps.integration();
    if (!integration) throw notConfigured();
    const valid =
      parsed.clientUuid === integration.clientId &&
      verifyDisableSignature(integration.clientSecret, parsed.clientUuid, parsed.accountId, parsed.signature);
    if (!valid)
      throw new HttpProblem(401, 'bad_signature', 'signature: does not verify for this integration');
    const outcome = await deps.disable(parsed.accountId);
    return json(200, { status: outcome.status });
  });
