/**
 * Every rejection the HTTP API makes is an HttpProblem, rendered once as RFC 9457 problem+json.
 * Handlers throw; `toProblemResponse` is the single place an error becomes a response.
 */
import type { FieldIssue } from './protocol';

export type ProblemCode =
  | 'invalid_body'
  | 'malformed_json'
  | 'bad_signature'
  | 'bad_timestamp'
  | 'missing_headers'
  | 'unauthorized'
  | 'forbidden'
  | 'unknown_account'
  | 'not_found'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'conflict'
  | 'method_not_allowed'
  | 'internal_error'
  | 'unavailable'
  | 'account_disabled'
  | 'not_configured'
  | 'too_many_requests';

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ProblemCode;
  errors?: FieldIssue[];
}

const titles: Record<ProblemCode, string> = {
  invalid_body: 'Invalid request body',
  malformed_json: 'Body is not valid JSON',
  bad_signature: 'Invalid webhook signature',
  bad_timestamp: 'Webhook timestamp outside the accepted window',
  missing_headers: 'Missing required headers',
  unauthorized: 'Unauthorized',
  forbidden: 'Forbidden',
  unknown_account: 'Unknown account',
  not_found: 'Not found',
  payload_too_large: 'Payload too large',
  unsupported_media_type: 'Unsupported media type',
  conflict: 'Conflict',
  method_not_allowed: 'Method not allowed',
  internal_error: 'Internal error',
  unavailable: 'Temporarily unavailable',
  account_disabled: 'Account disabled',
  not_configured: 'Not configured',
  too_many_requests: 'Too many requests',
};

export class HttpProblem extends Error {
  override readonly name = 'HttpProblem';
  constructor(
    readonly status: number,
    readonly code: ProblemCode,
    readonly detail: string,
    readonly errors?: FieldIssue[],
    readonly headers: Record<string, string> = {},
    /** Extra members of the problem body (RFC 9457 allows them); additive only. */
    readonly extra?: Record<string, unknown>,
  ) {
    super(detail);
  }

  toBody(): ProblemBody {
    return {
      type: `urn:callbridge:problem:${this.code}`,
      title: titles[this.code],
      status: this.status,
      detail: this.detail,
      code: this.code,
      ...(this.errors ? { errors: this.errors } : {}),
      ...this.extra,
    };
  }
}
