import { parsePayload } from '../form';
import { parseJsonObject } from '../json';
import type { ProviderAdapter } from '../port';
import { jsonReply } from '../reply';
import { normalizeTelnyx, type TelnyxPayload, TelnyxPayloadSchema } from './normalize';
import { verifyTelnyx } from './verify';

export const telnyx: ProviderAdapter<{ publicKey: string }, TelnyxPayload> = {
  name: 'telnyx',
  mediaTypes: ['application/json'],
  credentials: (account) => account.providers?.telnyx,
  verify: (request, { publicKey }) =>
    verifyTelnyx(request.headers, request.body, publicKey, request.receivedAt),
  parse: (request) => parsePayload(TelnyxPayloadSchema, parseJsonObject(request.body.toString('utf8'))),
  normalize: (payload, request) => normalizeTelnyx(payload, request.receivedAt),
  respond: jsonReply,
};
