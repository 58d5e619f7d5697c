/** Pieces every provider's verification shares. */
import { timingSafeEqual } from 'node:crypto';
import { HttpProblem } from '../core/problem';

/** Constant-time string equality; different lengths are unequal without comparing contents. */
export const safeEqual = (a: string, b: string): boolean => {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  return left.byteLength === right.byteLength && timingSafeEqual(left, right);
};

export const badSignature = (detail: string) => new HttpProblem(401, 'bad_signature', detail);

export const requireHeader = (
  headers: Readonly<Record<string, string | undefined>>,
  name: string,
  what: string,
): string => {
  const value = headers[name]?.trim();
  if (!value) throw new HttpProblem(401, 'missing_headers', `missing header ${name} (${what})`);
  return value;
};
