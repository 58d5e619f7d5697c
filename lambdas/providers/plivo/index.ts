import { formObject, parseForm, parsePayload } from '../form';
import type { ProviderAdapter } from '../port';
import { jsonReply } from '../reply';
import { normalizePlivo, type PlivoPayload, PlivoPayloadSchema } from './normalize';
import { verifyPlivo } from './verify';

export const plivo: ProviderAdapter<{ authToken: string }, PlivoPayload> = {
  name: 'plivo',
  mediaTypes: ['application/x-www-form-urlencoded'],
  credentials: (account) => account.providers?.plivo,
  verify: (request, { authToken }) =>
    verifyPlivo(
      { url: request.url, headers: request.headers, params: parseForm(request.body.toString('utf8')) },
      authToken,
    ),
  parse: (request) => parsePayload(PlivoPayloadSchema, formObject(parseForm(request.body.toString('utf8')))),
  normalize: (payload, request) => normalizePlivo(payload, request.receivedAt),
  respond: jsonReply,
};
