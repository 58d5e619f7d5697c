/**
 * The local stack's IAM: each function's DynamoDB client signs as that function, and the strict front lets
 * through only the calls its manifest entry declares, so a handler that starts making an undeclared call fails
 * here, in every test, the way the deployed function would (the rehearsal checks the template itself).
 */
import { allowedCalls, FUNCTIONS, type FunctionName, type TableId } from '../../lambdas/functions/manifest';
import type { Authorize } from './dynamo/authorize';

/** The access key a function's local client signs with. */
export const functionAccessKey = (fn: FunctionName) => `fn-${fn}`;

export interface Denial {
  fn: string;
  action: string;
  resource: string;
}

export const manifestAuthorizer =
  (tables: Record<TableId, string>, admin: string, denied: Denial[] = []): Authorize =>
  ({ accessKeyId, action, resources }) => {
    // The operator (CLI, demo, tests seeding data) may do anything, as an admin role would.
    if (accessKeyId === admin) return { allow: true };
    const fn = (Object.keys(FUNCTIONS) as FunctionName[]).find(
      (name) => functionAccessKey(name) === accessKeyId,
    );
    const principal = `arn:aws:sts::000000000000:assumed-role/local-${fn ?? 'unknown'}/${fn ?? accessKeyId}`;
    if (!fn) return { allow: false, principal };
    // KMS is not modelled locally (the local accounts table is not encrypted); the rehearsal checks it.
    if (!action.startsWith('dynamodb:')) return { allow: true };
    for (const resource of resources) {
      const match = /:table\/([^/]+)(\/index\/.+)?$/.exec(resource);
      const table = (Object.keys(tables) as TableId[]).find((id) => tables[id] === match?.[1]);
      const allowed =
        table !== undefined &&
        allowedCalls(FUNCTIONS[fn], table, match?.[2] !== undefined).has(action.slice(9));
      if (!allowed) {
        denied.push({ fn, action, resource });
        return { allow: false, principal, resource, reason: 'no-allow' };
      }
    }
    return { allow: true };
  };
