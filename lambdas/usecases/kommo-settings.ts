/**
 * Settings come from Kommo, not from a browser: the widget's `phones` field via GET /api/v4/widgets/{code},
 * filtered to users GET /api/v4/users says exist and are active. Run at install, hourly, and when an admin saves.
 */
import type { AgentMap } from '../core/routing';
import { KommoError } from '../kommo/errors';
import type { Installation } from '../kommo/ports';
import {
  activeUserIds,
  agentMapFromKommo,
  extensionsFromWidget,
  parseUsersPage,
  type UsersPage,
} from '../kommo/settings';
import type { KommoDeps } from './kommo-deps';

/** 250 users a page (Kommo's maximum); 20 pages is 5000 users, the agent map's own bound. */
const MAX_USER_PAGES = 20;

export const syncAgentSettings = async (
  deps: Pick<KommoDeps, 'integration' | 'client' | 'agents' | 'installations' | 'clock' | 'logger'>,
  installation: Pick<Installation, 'accountId' | 'subdomain' | 'widgetCode'>,
): Promise<{ map: AgentMap; dropped: number }> => {
  const widgetCode = installation.widgetCode ?? (await deps.integration())?.widgetCode;
  if (!widgetCode) throw new KommoError('not_installed', 'no Kommo integration is configured');
  const { accountId, subdomain } = installation;
  const widget = await deps.client.get<unknown>(
    accountId,
    `/api/v4/widgets/${encodeURIComponent(widgetCode)}`,
  );
  const extensions = extensionsFromWidget(widget.body);
  const pages: UsersPage[] = [];
  for (let page = 1; page <= MAX_USER_PAGES; page++) {
    const res = await deps.client.get<unknown>(accountId, '/api/v4/users', { query: { page, limit: 250 } });
    if (res.body === undefined) break;
    const parsed = parseUsersPage(res.body);
    pages.push(parsed);
    if (!parsed._links?.next) break;
  }
  const { map, dropped } = agentMapFromKommo(extensions, activeUserIds(pages));
  const now = deps.clock.now();
  // Updated by 0: Kommo itself, not a user of the account.
  await deps.agents.putAgentMap(subdomain, map, 0, now);
  await deps.installations.markSettingsSynced(accountId, now);
  deps.logger.info('kommo settings synced', { accountId, agents: Object.keys(map).length, dropped });
  return { map, dropped };
};

/** The admin-save path: the installation decides the widget code (a private integration has its own). */
export const syncAccountSettings = async (
  deps: Pick<KommoDeps, 'integration' | 'client' | 'agents' | 'installations' | 'clock' | 'logger'>,
  accountId: number,
  subdomain: string,
): Promise<AgentMap> => {
  const installation = await deps.installations.getInstallation(accountId);
  return (await syncAgentSettings(deps, installation ?? { accountId, subdomain })).map;
};
