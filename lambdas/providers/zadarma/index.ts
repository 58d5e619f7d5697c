import { HttpProblem } from '../../core/problem';
import { formObject, parseForm, parsePayload } from '../form';
import type { ProviderAdapter, ProviderReply } from '../port';
import { normalizeZadarma, type ZadarmaPayload, ZadarmaPayloadSchema } from './normalize';
import { verifyZadarma } from './verify';

const text = (body: string): ProviderReply => ({
  statusCode: 200,
  headers: {
    'content-type': 'text/plain; charset=utf-8',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  },
  body,
});

export const zadarma: ProviderAdapter<{ apiKey: string; apiSecret: string }, ZadarmaPayload> = {
  name: 'zadarma',
  mediaTypes: ['application/x-www-form-urlencoded'],
  credentials: (account) => account.providers?.zadarma,
  verify: (request, { apiSecret }) =>
    verifyZadarma(request.headers, formObject(parseForm(request.body.toString('utf8'))), apiSecret),
  parse: (request) =>
    parsePayload(ZadarmaPayloadSchema, formObject(parseForm(request.body.toString('utf8')))),
  normalize: (payload, request) => normalizeZadarma(payload, request.receivedAt),
  // Zadarma reads a JSON answer to NOTIFY_START as routing instructions: say nothing.
  respond: () => text(''),
  /** Zadarma checks the URL with `GET ?zd_echo=<random>` and expects the value back, as plain text. */
  handleGet(request) {
    const query = request.url.includes('?') ? request.url.slice(request.url.indexOf('?') + 1) : '';
    const echo = new URLSearchParams(query).get('zd_echo');
    if (echo === null)
      throw new HttpProblem(400, 'invalid_body', 'zd_echo: expected the query parameter Zadarma sends');
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(echo)) {
      throw new HttpProblem(400, 'invalid_body', 'zd_echo: expected 1-64 characters from [A-Za-z0-9_-]');
    }
    return text(echo);
  },
};
