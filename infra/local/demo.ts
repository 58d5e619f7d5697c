/**
 * The demo page and its helpers, served by the local stack beside the API:
 *   /                      the Kommo-like shell (public/), loading the BUILT widget from dist/widget/
 *   /vendor/*              requirejs and jQuery, as Kommo provides them
 *   /demo/config           users, contacts, areas, URLs
 *   /demo/token?user=ID    a Kommo disposable token (HS256 with the dev integration secret)
 *   /demo/call             signs and posts a sample call webhook, as a PBX would
 *   /demo/sockets?user=ID  how many sockets the backend holds for that agent
 *   /api/v4/contacts       a contacts fixture answering like Kommo's API
 *   /demo/kommo            the Kommo installation's state (the "Install Callbridge" step)
 *   /demo/kommo/install    POST: Kommo installs the widget (the webhook to the Redirect URI)
 *   /demo/kommo/disable    POST: an admin disables the integration in Kommo (the signed disable hook)
 *   /demo/kommo/settings   POST: Kommo stores the widget's settings (an admin pressed Save)
 */
import { existsSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AccountRecord } from '../../lambdas/core/accounts';
import type { CallEvent } from '../../lambdas/core/protocol';
import { lastDigits } from '../../widget/src/contacts';
import type { KommoEmulator } from './kommo/emulator';
import { mintKommoToken } from './kommo-token';
import { sendSignedCall } from './signed-call';
import type { LocalStack } from './stack';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** The demo Kommo account's id (Kommo's `account_id`), in the emulator and in disposable tokens. */
export const DEMO_ACCOUNT_ID = 31_000_000;

export const DEMO_USERS = [
  { id: 101, name: 'Ada Lovelace', extension: '101', admin: true },
  { id: 102, name: 'Linus Torvalds', extension: '102', admin: false },
  { id: 103, name: 'Grace Hopper', extension: '103', admin: false },
] as const;

/** The "unknown number" button's caller: no demo contact has it. */
export const UNKNOWN_CALLER = '+1 555 000 0199';

export const DEMO_CONTACTS = [
  { id: 5001, name: 'Katherine Johnson', phone: '+1 555 123 4567' },
  { id: 5002, name: 'Alan Turing', phone: '+44 20 7946 0958' },
  { id: 5003, name: 'Margaret Hamilton', phone: '+1 555 987 6543' },
] as const;

const AREAS = [
  {
    id: 'dashboard',
    title: 'Dashboard',
    hint: 'Kommo re-renders widgets on every area; an init_once widget keeps its socket.',
  },
  { id: 'leads', title: 'Leads · pipeline', hint: 'The leads list (llist).' },
  { id: 'lead-card', title: 'Lead card', hint: 'A lead card (lcard).' },
  { id: 'contacts', title: 'Contacts list', hint: 'The contacts list (clist).' },
  {
    id: 'contact-card',
    title: 'Contact card',
    hint: 'Contact cards (ccard) as the Kommo emulator has them: the call entries with their recordings, incoming leads of unknown callers and missed-call tasks. Install from Kommo first (below), then ring a call and end it.',
  },
  { id: 'tasks', title: 'Tasks', hint: 'The tasks list (tlist).' },
  {
    id: 'settings',
    title: 'Widget settings',
    hint: "The widget's settings as Kommo shows them to admins: each user's extension, saved through the widget's onSave; below, the widget's own part: connection state, webhook URL and secret.",
  },
];

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.png': 'image/png',
};

export interface DemoDeps {
  stack: LocalStack;
  account: AccountRecord;
  widgetDir?: string;
  version: string;
  contacts?: { id: number; name: string; phone: string }[];
  /** Where Kommo is for the install step; the emulator when the stack started one. */
  kommo?: { origin: string; clientId: string; emulator?: KommoEmulator };
  /** Display names instead of the demo users' own, by user id (the security tests give one markup). */
  userNames?: Record<number, string>;
}

const sendJson = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
};

const sendFile = (res: ServerResponse, base: string, relative: string): boolean => {
  const path = normalize(join(base, relative));
  if (!path.startsWith(base) || !existsSync(path)) return false;
  res.writeHead(200, {
    'content-type': TYPES[extname(path)] ?? 'application/octet-stream',
    'cache-control': 'no-store',
  });
  res.end(readFileSync(path));
  return true;
};

const readJson = async (req: IncomingMessage): Promise<Record<string, unknown>> => {
  let text = '';
  for await (const chunk of req) {
    text += chunk;
    if (text.length > 10_000) throw new Error('body too large');
  }
  const parsed = text ? JSON.parse(text) : {};
  return parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : {};
};

export const demoRoutes = (deps: DemoDeps) => {
  const widgetDir = deps.widgetDir ?? join(root, 'dist/widget');
  const publicDir = fileURLToPath(new URL('./public/', import.meta.url));
  const contacts = [...DEMO_CONTACTS, ...(deps.contacts ?? [])];
  const userOf = (value: unknown) => DEMO_USERS.find((u) => String(u.id) === String(value)) ?? DEMO_USERS[0];

  /** Each call the buttons started: its caller and extension, so its follow-ups are about the same call. */
  const calls = new Map<string, { from: string; extension: string }>();

  const sampleCall = async (body: Record<string, unknown>) => {
    const user = userOf(body.user);
    const kind = String(body.kind);
    const newId = `demo-${Date.now().toString(36)}`;
    const existing = typeof body.callId === 'string' && calls.has(body.callId) ? body.callId : undefined;
    // The phone system rings the extension the agent has now (the settings may have changed it).
    const agents = await deps.stack.state.getAgentMap(deps.account.subdomain);
    const ringing: Record<string, { from: string }> = {
      'ring-known': { from: DEMO_CONTACTS[0].phone },
      'ring-unknown': { from: UNKNOWN_CALLER },
    };
    const followUps: Record<string, { type: CallEvent['type']; extra?: Partial<CallEvent['call']> }> = {
      answer: { type: 'call.answered' },
      end: { type: 'call.ended' },
      missed: { type: 'call.ended', extra: { outcome: 'missed' } },
    };
    let step: { type: CallEvent['type']; id: string; extra?: Partial<CallEvent['call']> };
    let call: { from: string; extension: string };
    const start = ringing[kind];
    const next = followUps[kind];
    if (start) {
      call = { from: start.from, extension: agents[String(user.id)] ?? user.extension };
      step = { type: 'call.ringing', id: newId };
      calls.set(newId, call);
      if (calls.size > 100) calls.delete(calls.keys().next().value as string);
    } else if (next) {
      if (!existing) return { status: 409, response: { error: 'ring a call first' } };
      call = calls.get(existing) as { from: string; extension: string };
      step = { ...next, id: existing };
    } else {
      return { status: 400, response: { error: `unknown kind "${kind}"` } };
    }
    const result = await sendSignedCall({
      url: deps.stack.url,
      subdomain: deps.account.subdomain,
      secret: deps.account.webhookSecrets[0]?.secret ?? '',
      type: step.type,
      callId: step.id,
      from: call.from,
      to: `ext ${call.extension}`,
      extensions: [call.extension],
      extra: step.extra,
    });
    return { status: result.status, response: result.body, callId: step.id };
  };

  return {
    async handle(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
      const url = new URL(req.url ?? '/', 'http://local');
      const path = url.pathname;
      if (req.method === 'GET' && path === '/') return sendFile(res, publicDir, 'index.html');
      if (req.method === 'GET' && path === '/favicon.ico') {
        res.writeHead(204).end();
        return true;
      }
      if (req.method === 'GET' && path.startsWith('/demo/') && /\.(js|css)$/.test(path)) {
        return sendFile(res, publicDir, path.slice('/demo/'.length));
      }
      if (req.method === 'GET' && path === '/vendor/require.js') {
        return sendFile(res, join(root, 'node_modules/requirejs'), 'require.js');
      }
      if (req.method === 'GET' && path === '/vendor/jquery.js') {
        return sendFile(res, join(root, 'node_modules/jquery/dist'), 'jquery.min.js');
      }
      if (req.method === 'GET' && path.startsWith('/widget/')) {
        if (sendFile(res, widgetDir, path.slice('/widget/'.length))) return true;
        sendJson(res, 404, { error: `${path} not found; run npm run build` });
        return true;
      }
      if (req.method === 'GET' && path === '/demo/config') {
        sendJson(res, 200, {
          version: deps.version,
          apiUrl: deps.stack.url,
          webhookUrl: `${deps.stack.url}/webhooks/${deps.account.subdomain}`,
          account: { id: DEMO_ACCOUNT_ID, subdomain: deps.account.subdomain },
          kommo: deps.kommo
            ? {
                origin: deps.kommo.origin,
                consentUrl: `${deps.kommo.origin}/oauth?client_id=${encodeURIComponent(deps.kommo.clientId)}&state=demo&mode=popup`,
                emulated: deps.kommo.emulator !== undefined,
              }
            : undefined,
          users: DEMO_USERS.map((u) => ({ ...u, name: deps.userNames?.[u.id] ?? u.name })),
          // The extension map as the backend has it now: the settings form starts from it.
          agents: await deps.stack.state.getAgentMap(deps.account.subdomain),
          contacts,
          areas: AREAS,
        });
        return true;
      }
      if (req.method === 'GET' && path === '/demo/token') {
        const user = userOf(url.searchParams.get('user'));
        const token = await mintKommoToken({
          subdomain: deps.account.subdomain,
          domain: deps.account.domain,
          clientSecret: deps.account.clientSecret,
          integrationId: deps.account.integrationId,
          userId: user.id,
          isAdmin: user.admin,
        });
        sendJson(res, 200, { token });
        return true;
      }
      if (req.method === 'POST' && path === '/demo/call') {
        sendJson(res, 200, await sampleCall(await readJson(req)));
        return true;
      }
      if (req.method === 'GET' && path === '/demo/sockets') {
        const user = userOf(url.searchParams.get('user'));
        const live = await deps.stack.state.connectionsOf(deps.account.subdomain, [user.id], Date.now());
        const open = new Set(deps.stack.gateway.connectionIds());
        sendJson(res, 200, { count: live.filter((c) => open.has(c.connectionId)).length });
        return true;
      }
      if (req.method === 'GET' && path === '/demo/kommo') {
        const installation = await deps.stack.kommo.deps.installations.getInstallation(DEMO_ACCOUNT_ID);
        const account = await deps.stack.accounts.getAccount(deps.account.subdomain);
        // State only, never a token: the page shows what the installation looks like.
        sendJson(res, 200, {
          installation: installation
            ? {
                status: installation.status,
                accountId: installation.accountId,
                tokenExpiresAt: installation.tokens
                  ? new Date(installation.tokens.expiresAt).toISOString()
                  : undefined,
                settingsSyncedAt: installation.settingsSyncedAt
                  ? new Date(installation.settingsSyncedAt).toISOString()
                  : undefined,
              }
            : undefined,
          accountStatus: account?.status ?? (account ? 'private' : 'missing'),
          agents: await deps.stack.state.getAgentMap(deps.account.subdomain),
          // What the calls left in the emulated Kommo (issue 13), as its contact cards show it (the page's
          // "Contact card" area), and how many bells Kommo's notification centre got.
          crm: deps.kommo?.emulator
            ? {
                cards: deps.kommo.emulator.contactCards(DEMO_ACCOUNT_ID).slice(0, 6),
                bells: deps.kommo.emulator.written.events.filter((e) => e.accountId === DEMO_ACCOUNT_ID)
                  .length,
              }
            : undefined,
        });
        return true;
      }
      if (req.method === 'POST' && path === '/demo/kommo/settings') {
        // Kommo keeps the widget's settings; the emulator is that Kommo (the backend reads them from there).
        const body = await readJson(req);
        // Kommo's users field: user id → extension text; anything else is not what Kommo would store.
        const phones = Object.fromEntries(
          Object.entries(body.phones && typeof body.phones === 'object' ? body.phones : {}).filter(
            ([user, extension]) =>
              /^\d{1,12}$/.test(user) && typeof extension === 'string' && extension.length <= 64,
          ),
        );
        deps.kommo?.emulator?.setWidgetSettings(DEMO_ACCOUNT_ID, { phones });
        sendJson(res, 200, { stored: deps.kommo?.emulator !== undefined });
        return true;
      }
      if (req.method === 'POST' && (path === '/demo/kommo/install' || path === '/demo/kommo/disable')) {
        const emulator = deps.kommo?.emulator;
        if (!emulator) {
          sendJson(res, 409, { error: 'KOMMO_API_ORIGIN points at another Kommo; install from there' });
          return true;
        }
        if (path === '/demo/kommo/install') {
          const result = await emulator.installWidget(DEMO_ACCOUNT_ID);
          await deps.stack.kommo.idle();
          sendJson(res, 200, { webhook: result.status });
        } else {
          sendJson(res, 200, { hook: await emulator.disableIntegration(DEMO_ACCOUNT_ID) });
        }
        return true;
      }
      if (req.method === 'GET' && path === '/api/v4/contacts') {
        const query = lastDigits(url.searchParams.get('query') ?? '');
        const match = contacts.find((c) => query.length >= 5 && lastDigits(c.phone) === query);
        if (!match) {
          res.writeHead(204).end();
          return true;
        }
        sendJson(res, 200, { _embedded: { contacts: [{ id: match.id, name: match.name }] } });
        return true;
      }
      return false;
    },
  };
};
