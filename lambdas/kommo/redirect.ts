/**
 * The OAuth redirect URI's query (kommo-server.md §1.2), validated. Kommo sends `code`, `referer`
 * ({subdomain}.kommo.com), `state` (only if one was given), `client_id`, `from_widget` on a widget install, or
 * `error=access_denied` when the user declined.
 */
import * as v from 'valibot';
import { describeIssues, type FieldIssue } from '../core/protocol';

/** Kommo accounts live on {subdomain}.kommo.com; old amocrm.com tokens still work there (§1.10). */
export const REFERER = /^([a-z0-9-]{1,63})\.(kommo\.com|amocrm\.com)$/;

const Grant = v.object({
  code: v.pipe(v.string(), v.regex(/^[A-Za-z0-9._~+/=-]{8,4096}$/, 'expected an authorization code')),
  referer: v.pipe(
    v.string(),
    v.toLowerCase(),
    v.regex(REFERER, 'expected the account host, {subdomain}.kommo.com'),
  ),
  client_id: v.pipe(v.string(), v.regex(/^[A-Za-z0-9-]{1,64}$/, 'expected the integration id')),
  state: v.optional(v.pipe(v.string(), v.maxLength(512, 'expected at most 512 characters'))),
  from_widget: v.optional(v.string()),
});

const Declined = v.object({
  error: v.literal('access_denied', 'expected "access_denied"'),
  client_id: v.optional(v.string()),
  state: v.optional(v.string()),
});

export type RedirectQuery =
  | {
      kind: 'grant';
      code: string;
      referer: string;
      subdomain: string;
      clientId: string;
      state?: string;
      fromWidget: boolean;
    }
  | { kind: 'declined'; clientId?: string }
  | { kind: 'invalid'; issues: FieldIssue[] };

export const parseRedirect = (query: Record<string, string | undefined>): RedirectQuery => {
  if (query.error !== undefined) {
    const declined = v.safeParse(Declined, query);
    return declined.success
      ? { kind: 'declined', clientId: declined.output.client_id }
      : { kind: 'invalid', issues: describeIssues(declined.issues) };
  }
  const grant = v.safeParse(Grant, query);
  if (!grant.success) return { kind: 'invalid', issues: describeIssues(grant.issues) };
  const { code, referer, client_id, state, from_widget } = grant.output;
  return {
    kind: 'grant',
    code,
    referer,
    subdomain: REFERER.exec(referer)?.[1] ?? '',
    clientId: client_id,
    ...(state ? { state } : {}),
    fromWidget: from_widget !== undefined,
  };
};

/** The disable hook's query: `client_uuid`, `account_id`, `signature`. */
export const parseDisableHook = (
  query: Record<string, string | undefined>,
):
  | { ok: true; clientUuid: string; accountId: number; signature: string }
  | { ok: false; issues: FieldIssue[] } => {
  const issues: FieldIssue[] = [];
  const clientUuid = query.client_uuid ?? '';
  if (!/^[A-Za-z0-9-]{1,64}$/.test(clientUuid))
    issues.push({ field: 'client_uuid', message: 'expected the integration id' });
  const accountId = /^[1-9]\d{0,14}$/.test(query.account_id ?? '') ? Number(query.account_id) : undefined;
  if (accountId === undefined) issues.push({ field: 'account_id', message: 'expected a Kommo account id' });
  const signature = query.signature ?? '';
  if (!/^[0-9a-fA-F]{64}$/.test(signature))
    issues.push({ field: 'signature', message: 'expected 64 hex characters' });
  return issues.length > 0 || accountId === undefined
    ? { ok: false, issues }
    : { ok: true, clientUuid, accountId, signature: signature.toLowerCase() };
};
