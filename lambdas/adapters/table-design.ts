/**
 * The key design of the two tables, in one place: the CDK stack, the local stack and the adapters read it.
 *
 * State table (pk, sk; TTL attribute `ttl` in epoch seconds; no index: every read is by key, strongly
 * consistent where it decides delivery, so nothing waits on an index's eventual consistency):
 *   C#<connectionId>       / C            a socket, by id (for $default and $disconnect)
 *   U#<sub>#<userId>       / CONNS        the user's live sockets, one attribute `c:<connectionId>` each
 *   A#<sub>#DIR#<shard>    / DIR          users who have connected (number set; 16 shards by user id)
 *   T#<sha256(ticket)>     / T            a ticket (single use, ≤60 s)
 *   A#<sub>                / AGENTS       user → extension map
 *   A#<sub>#W#<webhookId>  / W            webhook claim and first result (dedupe, 24 h)
 *   A#<sub>#CALL#<callId>  / CALL         call state (2 days)
 *   U#<sub>#<userId>       / SEQ          the user's seq counter (kept)
 *                          / E#<seq>      a pushed message, for resume (retention)
 *                          / D#<webhook>  which seq a webhook got for this user (idempotent append)
 *                          / A#<callId>   an active call of the user (for the resume snapshot)
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
