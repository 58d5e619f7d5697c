import { HttpProblem } from '../core/problem';

/** A JSON body that must be an object. @throws HttpProblem 400 */
export const parseJsonObject = (text: string): Record<string, unknown> => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    const detail = error instanceof SyntaxError ? error.message : 'unparseable';
    throw new HttpProblem(400, 'malformed_json', `body is not valid JSON: ${detail}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new HttpProblem(400, 'invalid_body', '(root): expected a JSON object');
  }
  return parsed as Record<string, unknown>;
};
