/**
 * The demo page: a small Kommo-like shell that loads the built widget. Until the widget exists this serves
 * a page saying how to reach the API.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AccountRecord } from '../../lambdas/core/accounts';
import type { LocalStack } from './stack';

export interface DemoDeps {
  stack: LocalStack;
  account: AccountRecord;
}

export const demoRoutes = (deps: DemoDeps) => ({
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const url = new URL(req.url ?? '/', 'http://local');
    if (req.method === 'GET' && url.pathname === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(`<!doctype html><title>Callbridge</title><h1>Callbridge local stack</h1>
<p>Webhooks: <code>${deps.stack.url}/webhooks/${deps.account.subdomain}</code></p>`);
      return true;
    }
    return false;
  },
});
