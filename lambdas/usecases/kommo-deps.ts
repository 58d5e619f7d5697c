import type { KommoClient } from '../kommo/client';
import type { InstallationStore, InstallCodeStore, Integration } from '../kommo/ports';
import type { TokenEndpoint } from '../kommo/token-endpoint';
import type { TokenService } from '../kommo/tokens';
import type { AccountStore, AgentStore, Clock, ConnectionCloser, ConnectionStore, Logger } from '../ports';

/** Everything the Kommo use-cases touch; each takes the slice it needs. */
export interface KommoDeps {
  integration: () => Promise<Integration | undefined>;
  codes: InstallCodeStore;
  installations: InstallationStore;
  accounts: AccountStore;
  agents: Pick<AgentStore, 'putAgentMap'>;
  connections: Pick<ConnectionStore, 'connectionsOf' | 'connectedUsers' | 'removeConnection'>;
  closer: ConnectionCloser;
  endpoint: TokenEndpoint;
  tokens: TokenService;
  client: KommoClient;
  originFor: (baseDomain: string) => string;
  clock: Clock;
  logger: Logger;
}
