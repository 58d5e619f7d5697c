/**
 * application/x-www-form-urlencoded bodies (Twilio, Plivo, Zadarma), kept as every value of every name:
 * Twilio and Plivo sign each value of a repeated name, so collapsing them would verify something else.
 */
import * as v from 'valibot';
import { HttpProblem } from '../core/problem';
import { describeIssues } from '../core/protocol';

export type FormParams = ReadonlyMap<string, readonly string[]>;

export const parseForm = (text: string): FormParams => {
  const params = new Map<string, string[]>();
  for (const [name, value] of new URLSearchParams(text)) {
    const list = params.get(name);
    if (list) list.push(value);
    else params.set(name, [value]);
  }
  return params;
};

/** The last value of each name, as a plain object for schema validation. */
export const formObject = (params: FormParams): Record<string, string> =>
  Object.fromEntries([...params].map(([name, values]) => [name, values[values.length - 1] ?? '']));

/**
 * Validate a provider payload; the first issue names the field and what was expected there. Messages are
 * rebuilt from `expected` only: valibot's defaults quote the received value, which may be a phone number,
 * and problem details are logged.
 */
export const parsePayload = <S extends v.GenericSchema>(schema: S, input: unknown): v.InferOutput<S> => {
  const result = v.safeParse(schema, input, { abortPipeEarly: true });
  if (result.success) return result.output;
  const issues = describeIssues(result.issues).map((issue, i) => {
    const raw = result.issues[i];
    const custom = raw && !raw.message.startsWith('Invalid ');
    return custom ? issue : { field: issue.field, message: `expected ${raw?.expected ?? 'a valid value'}` };
  });
  throw new HttpProblem(400, 'invalid_body', `${issues[0]?.field}: ${issues[0]?.message}`, issues);
};
