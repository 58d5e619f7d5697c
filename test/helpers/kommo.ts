/**
 * A fake Kommo host for the widget: `self` with settings and `$authorizedAjax` (which mints the same HS256
 * disposable token Kommo would and really calls the backend), and an `APP` that records notifications and
 * the calling status.
 */
import { request } from 'node:http';
import { mintKommoToken } from '../../infra/local/kommo-token';
import en from '../../widget/i18n/en.json';
import type { AddCallParams, AddErrorParams, AjaxOptions, KommoApp, KommoSelf } from '../../widget/src/kommo';

export interface FakeKommoOptions {
  subdomain: string;
  clientSecret: string;
  integrationId: string;
  userId: number;
  userName?: string;
  isAdmin?: boolean;
  settings?: Record<string, unknown>;
}

/** Node's own HTTP client: happy-dom replaces fetch with one that enforces browser CORS. */
export const httpJson = (url: string, method: string, headers: Record<string, string>, body?: string) =>
  new Promise<{ status: number; json: unknown }>((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      let text = '';
      res.on('data', (chunk) => {
        text += chunk;
      });
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : undefined }),
      );
    });
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });

export const fakeKommo = (options: FakeKommoOptions) => {
  const recorded = {
    calls: [] as AddCallParams[],
    errors: [] as AddErrorParams[],
    callingStatus: [] as boolean[],
    ajax: [] as AjaxOptions[],
  };
  let calling = false;
  const app: KommoApp = {
    notifications: {
      add_call: (p) => recorded.calls.push(p),
      add_error: (p) => recorded.errors.push(p),
    },
    sdk: {
      setCallingStatus: (value: boolean) => {
        calling = value;
        recorded.callingStatus.push(value);
        return `calling_status - ${value}`;
      },
      getCallingStatus: () => calling,
    },
    constant: (name) =>
      name === 'user'
        ? { id: options.userId, name: options.userName ?? `Agent ${options.userId}` }
        : name === 'user_rights'
          ? { is_admin: options.isAdmin ?? false }
          : { id: 31000000, subdomain: options.subdomain },
  };
  const self: KommoSelf = {
    get_settings: () => ({ widget_code: 'callbridge', ...options.settings }),
    langs: en,
    i18n: (key: string) =>
      key.split('.').reduce<unknown>((n, k) => (n as Record<string, unknown>)?.[k], en) ?? key,
    system: () => ({ subdomain: options.subdomain, amouser_id: options.userId, area: 'dashboard' }),
    $authorizedAjax: (opts) => {
      recorded.ajax.push(opts);
      const promise = (async () => {
        const token = await mintKommoToken({ ...options, isAdmin: options.isAdmin ?? false });
        const headers: Record<string, string> = { 'x-auth-token': token };
        if (opts.contentType) headers['content-type'] = opts.contentType;
        const res = await httpJson(opts.url, opts.method ?? opts.type ?? 'GET', headers, opts.data);
        if (res.status >= 400) throw { status: res.status, responseJSON: res.json };
        return res.json;
      })();
      // jQuery's Deferred is a thenable; a Promise stands in for it.
      return promise;
    },
  };
  return { app, self, recorded };
};

/** Kommo's contacts API for the widget's caller lookup: one known number. */
export const contactsFetch =
  (known: Record<string, { id: number; name: string }>) =>
  async (url: string): Promise<Response> => {
    const query = new URL(url, 'http://kommo.local').searchParams.get('query') ?? '';
    const match = known[query];
    if (!match) return new Response(null, { status: 204 });
    return new Response(JSON.stringify({ _embedded: { contacts: [match] } }), {
      status: 200,
      headers: { 'content-type': 'application/json' },
    });
  };
