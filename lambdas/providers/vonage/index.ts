import { parsePayload } from '../form';
import { parseJsonObject } from '../json';
import type { ProviderAdapter } from '../port';
import { jsonReply } from '../reply';
import { normalizeVonage, type VonagePayload, VonagePayloadSchema } from './normalize';
import { verifyVonage } from './verify';

export const vonage: ProviderAdapter<{ signatureSecret: string }, VonagePayload> = {
  name: 'vonage',
  mediaTypes: ['application/json'],
  credentials: (account) => account.providers?.vonage,
  verify: (request, { signatureSecret }) =>
    verifyVonage(request.headers, request.body, signatureSecret, request.receivedAt),
  parse: (request) => parsePayload(VonagePayloadSchema, parseJsonObject(request.body.toString('utf8'))),
  normalize: (payload, request) => normalizeVonage(payload, request.receivedAt),
  respond: jsonReply,
};
