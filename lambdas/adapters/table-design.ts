/**
 * The key design of the two tables, in one place: the CDK stack, the local stack and the adapters read it.
 *
 * State table (pk, sk; TTL attribute `ttl` in epoch seconds; no index: every read is by key, strongly
 * consistent where it decides delivery, so nothing waits on an index's eventual consistency):
 *   C#<connectionId>       / C            a socket, by id (for $default and $disconnect)
 *                          / RATE#<t>     its messages and resumes in the minute starting at t (limits.ts)
 *   U#<sub>#<userId>       / CONNS        the user's live sockets, one attribute `c:<connectionId>` each (≤ 10)
 *                          / M#<callId>   a call the user was told of (what a resume reads; a day)
 *                          / RATE#T#<t>   the user's tickets in the minute starting at t
 *   A#<sub>#DIR#<shard>    / DIR          16 shards by user id: `users` who have connected and `agents` who
 *                                         hold an extension (number sets; what a ring-all reads)
 *   A#<sub>#X#<shard>      / X#<ext>      the users holding an extension (16 shards by a hash of it)
 *   T#<sha256(ticket)>     / T            a ticket (single use, ≤60 s)
 *   A#<sub>#W#<webhookId>  / W            webhook claim and first result (dedupe, 24 h)
 *   A#<sub>#CALL#<callId>  / CALL         call state (2 days)
 *                          / ACK          users whose tab showed its ringing pop-up (a number set; a day)
 *   A#<sub>                / SEQ          the account's seq counter
 *
 * Capacity (DynamoDB throttles one partition key past 3,000 RCU/s or 1,000 WCU/s): a webhook reads only the
 * keys of the extensions and users it names, so its cost does not grow with the account. At 10,000 agents
 * with 32-character extensions an extension item is under 100 bytes (1 RCU) and a directory shard about
 * 6 KB (2 RCU, a ring-all only); the whole map, about 45 KB a shard, is read only by GET and PUT /agents.
 * What every webhook of an account shares is the SEQ item (1 WCU each): about 1,000 webhooks/s per account
 * (`npm run bench`, capacity section, measures it).
 *
 * Accounts table (pk `subdomain`), encrypted with its own KMS key, readable only by the functions that
 * verify tokens or signatures.
 */
export const STATE_TABLE = {
  partitionKey: 'pk',
  sortKey: 'sk',
  ttlAttribute: 'ttl',
} as const;

export const ACCOUNTS_TABLE = { partitionKey: 'subdomain' } as const;

/**
 * Kommo table (pk `pk`; TTL attribute `ttl`), encrypted with the accounts' KMS key: it holds the integration's
 * secret key, authorization codes and OAuth tokens.
 *   INTEGRATION          the deployment's integration (client id, secret key, redirect URI, widget code)
 *   CODE#<sha256(code)>  an authorization code waiting for its exchange (TTL: 1 day)
 *   INSTALL#<accountId>  a Kommo account's installation: status, tokens, refresh lease
 */
export const KOMMO_TABLE = { partitionKey: 'pk', ttlAttribute: 'ttl' } as const;
