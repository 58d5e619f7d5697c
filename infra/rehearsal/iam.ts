/**
 * Identity-based IAM policy evaluation, as AWS does it for one principal in one account: an explicit Deny wins,
 * else any Allow whose Action and Resource match, else the implicit deny. Conditions are not modelled, so a
 * statement with a Condition is refused outright rather than assumed to match. Written here (about 80 lines)
 * because the one maintained simulator on npm is AGPL.
 */
import { type CfnTemplate, REHEARSAL_ACCOUNT, resolve } from './intrinsics';

export interface Statement {
  Effect: 'Allow' | 'Deny';
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: string | string[];
  Condition?: unknown;
  Sid?: string;
}

export type Decision =
  | { allowed: true; statement: Statement; policy: string }
  | { allowed: false; reason: 'explicit-deny' | 'no-allow' };

const list = (value: string | string[] | undefined): string[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

/** IAM wildcards: `*` any run of characters, `?` one; actions compare case-insensitively. */
export const wildcardMatch = (pattern: string, value: string, ignoreCase = false): boolean => {
  const escaped = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${escaped}$`, ignoreCase ? 'i' : '').test(value);
};

const matches = (statement: Statement, action: string, resource: string): boolean => {
  const actionOk =
    statement.NotAction !== undefined
      ? !list(statement.NotAction).some((p) => wildcardMatch(p, action, true))
      : list(statement.Action).some((p) => wildcardMatch(p, action, true));
  return actionOk && list(statement.Resource).some((p) => wildcardMatch(p, resource));
};

export interface NamedPolicy {
  name: string;
  statements: Statement[];
}

export const evaluate = (policies: readonly NamedPolicy[], action: string, resource: string): Decision => {
  let allow: Decision | undefined;
  for (const policy of policies) {
    for (const statement of policy.statements) {
      if (!matches(statement, action, resource)) continue;
      if (statement.Effect === 'Deny') return { allowed: false, reason: 'explicit-deny' };
      if (statement.Condition === undefined) allow ??= { allowed: true, statement, policy: policy.name };
    }
  }
  return allow ?? { allowed: false, reason: 'no-allow' };
};

/** The inline policies CDK attaches to a role (AWS::IAM::Policy with the role in `Roles`), resolved. */
export const rolePolicies = (template: CfnTemplate, roleLogicalId: string): NamedPolicy[] =>
  Object.entries(template.Resources)
    .filter(
      ([, r]) =>
        r.Type === 'AWS::IAM::Policy' &&
        ((r.Properties?.Roles as unknown[]) ?? []).some(
          (role) => JSON.stringify(role) === JSON.stringify({ Ref: roleLogicalId }),
        ),
    )
    .map(([id, r]) => {
      const document = resolve(template, r.Properties?.PolicyDocument) as {
        Statement?: Statement | Statement[];
      };
      const statements = document.Statement ?? [];
      return { name: id, statements: Array.isArray(statements) ? statements : [statements] };
    });

/**
 * Whether a KMS key's policy delegates to IAM: only then do identity policies grant its use (the key policy is
 * the primary authority for a KMS key).
 */
export const keyDelegatesToIam = (template: CfnTemplate, keyLogicalId: string): boolean => {
  const policy = resolve(template, template.Resources[keyLogicalId]?.Properties?.KeyPolicy) as
    | { Statement: { Effect: string; Principal?: { AWS?: string | string[] }; Action: string | string[] }[] }
    | undefined;
  const root = `arn:aws:iam::${REHEARSAL_ACCOUNT}:root`;
  return (policy?.Statement ?? []).some(
    (s) =>
      s.Effect === 'Allow' &&
      list(s.Principal?.AWS).includes(root) &&
      list(s.Action).some((a) => wildcardMatch(a, 'kms:Decrypt', true)),
  );
};
