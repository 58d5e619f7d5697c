/**
 * The widget's own settings and the account's users, as Kommo's API returns them (kommo-server.md §6.2, §7.1),
 * turned into the agent map: Kommo user id → extension, only for users who exist and are active.
 */
import * as v from 'valibot';
import type { AgentMap } from '../core/routing';
import { KommoError } from './errors';

/** The widget's `users`-type field that holds each user's extension (widget/manifest.json). */
export const PHONES_FIELD = 'phones';

const EXTENSION = /^[0-9A-Za-z*#_.-]{1,32}$/;

const WidgetResponse = v.object({
  code: v.optional(v.string()),
  // Only present when the integration reads its own widget; absent means "not ours" or "never saved".
  settings: v.optional(v.nullable(v.union([v.record(v.string(), v.unknown()), v.array(v.unknown())]))),
});

const UsersPage = v.object({
  _links: v.optional(v.object({ next: v.optional(v.object({ href: v.string() })) })),
  _embedded: v.object({
    users: v.array(
      v.object({
        id: v.number(),
        rights: v.optional(
          v.object({ is_active: v.optional(v.boolean()), is_free: v.optional(v.boolean()) }),
        ),
      }),
    ),
  }),
});
export type UsersPage = v.InferOutput<typeof UsersPage>;

/** `{ "<user_id>": "<extension>" }`; Kommo can hand a `users` field over as a JSON string. */
export const extensionsFromWidget = (body: unknown, field = PHONES_FIELD): Record<string, string> => {
  const parsed = v.safeParse(WidgetResponse, body);
  if (!parsed.success) throw new KommoError('bad_response', 'GET /api/v4/widgets/{code}: unexpected body');
  const settings = parsed.output.settings;
  if (!settings || Array.isArray(settings)) return {};
  let raw = settings[field];
  if (typeof raw === 'string') {
    try {
      raw = JSON.parse(raw);
    } catch {
      return {};
    }
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return {};
  const out: Record<string, string> = {};
  for (const [user, extension] of Object.entries(raw as Record<string, unknown>)) {
    const ext = typeof extension === 'number' ? String(extension) : extension;
    if (/^[1-9]\d{0,14}$/.test(user) && typeof ext === 'string' && EXTENSION.test(ext.trim()))
      out[user] = ext.trim();
  }
  return out;
};

export const parseUsersPage = (body: unknown): UsersPage => {
  const parsed = v.safeParse(UsersPage, body);
  if (!parsed.success) throw new KommoError('bad_response', 'GET /api/v4/users: unexpected body');
  return parsed.output;
};

/** Active users; Kommo's free (read-only) seats cannot take calls, so they are left out too. */
export const activeUserIds = (pages: readonly UsersPage[]): Set<number> =>
  new Set(
    pages.flatMap((page) =>
      page._embedded.users
        .filter((u) => u.rights?.is_active !== false && u.rights?.is_free !== true)
        .map((u) => u.id),
    ),
  );

export const agentMapFromKommo = (
  extensions: Record<string, string>,
  active: ReadonlySet<number>,
): { map: AgentMap; dropped: number } => {
  const map: AgentMap = {};
  let dropped = 0;
  for (const [user, extension] of Object.entries(extensions)) {
    if (active.has(Number(user))) map[user] = extension;
    else dropped++;
  }
  return { map, dropped };
};

const AccountResponse = v.object({
  id: v.pipe(v.number(), v.integer(), v.minValue(1)),
  subdomain: v.pipe(v.string(), v.regex(/^[a-z0-9-]{1,63}$/)),
});

export const parseAccount = (body: unknown): { id: number; subdomain: string } => {
  const parsed = v.safeParse(AccountResponse, body);
  if (!parsed.success) throw new KommoError('bad_response', 'GET /api/v4/account: no id/subdomain');
  return parsed.output;
};
