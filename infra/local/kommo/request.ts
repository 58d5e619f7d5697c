/** Request parsing and validation errors shared by the emulator's endpoints. */
import type { IncomingMessage } from 'node:http';

export type Json = Record<string, unknown>;

export class RequestError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
    readonly extra: Json = {},
  ) {
    super(detail);
  }
}

export const validationError = (requestId: string, path: string, code: string, detail: string) =>
  new RequestError(400, 'Request validation failed', {
    'validation-errors': [{ request_id: requestId, errors: [{ code, path, detail }] }],
  });

export const isInt = (value: unknown): value is number =>
  typeof value === 'number' && Number.isInteger(value);

export const readText = async (req: IncomingMessage): Promise<string> => {
  let text = '';
  for await (const chunk of req) {
    text += chunk;
    if (text.length > 2_000_000) throw new RequestError(413, 'Request too large');
  }
  return text;
};

export const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    throw new RequestError(400, 'Request body is not valid JSON');
  }
};

/** §8.1: at most 250 entities per request (50 recommended). */
export const requireArray = (body: unknown): Json[] => {
  if (!Array.isArray(body)) throw new RequestError(400, 'Request validation failed: expected an array');
  if (body.length === 0) throw new RequestError(400, 'Request validation failed: empty array');
  if (body.length > 250) throw new RequestError(422, 'Limit 250 per request');
  if (body.some((item) => !item || typeof item !== 'object' || Array.isArray(item))) {
    throw new RequestError(400, 'Request validation failed: expected objects');
  }
  return body as Json[];
};

export const paging = (url: URL) => {
  const page = Math.max(1, Number(url.searchParams.get('page') ?? 1) || 1);
  const limit = Number(url.searchParams.get('limit') ?? 50) || 50;
  if (limit > 250) throw new RequestError(422, 'Limit 250 per page');
  return { page, limit: Math.max(1, limit) };
};
