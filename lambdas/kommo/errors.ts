/**
 * What can go wrong talking to Kommo, as codes: callers decide on the code (retry later, mark the account
 * for re-authorization, give up), never on an HTTP status or a message.
 */
export type KommoErrorCode =
  /** The access token was refused even after one refresh. */
  | 'unauthorized'
  /** The refresh token (or code) is revoked, expired or unknown: an admin must install again. */
  | 'revoked'
  /** 403: insufficient rights, or Kommo's IP block after repeated rate-limit excess. */
  | 'forbidden'
  | 'not_found'
  | 'payment_required'
  /** 400/422 with Kommo's validation errors. */
  | 'invalid_request'
  /** 429 whose `retry_after` is longer than this request may wait. */
  | 'rate_limited'
  | 'server_error'
  | 'timeout'
  | 'network'
  /** The account has no usable installation (never installed, disabled, or waiting for re-authorization). */
  | 'not_installed'
  /** The answer is not what Kommo documents. */
  | 'bad_response';

export interface KommoValidationError {
  request_id?: string;
  errors?: { code?: string; path?: string; detail?: string }[];
}

export class KommoError extends Error {
  override readonly name = 'KommoError';
  constructor(
    readonly code: KommoErrorCode,
    message: string,
    readonly details: {
      status?: number;
      title?: string;
      retryAfterSeconds?: number;
      validation?: KommoValidationError[];
      /** Per-entity errors of a batch (calls whose number matched nothing, kommo-server.md §2.3). */
      entityErrors?: { request_id?: string; title?: string }[];
    } = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
  }

  /** Transient failures worth another attempt after a backoff. */
  get retryable(): boolean {
    return this.code === 'server_error' || this.code === 'timeout' || this.code === 'network';
  }
}

/** What to log of any error from a Kommo call: its code, never its message (which may quote Kommo's reply). */
export const kommoErrorCode = (error: unknown): KommoErrorCode | 'unexpected' =>
  error instanceof KommoError ? error.code : 'unexpected';
