/** POST /tickets: a Kommo disposable token in, a single-use WebSocket ticket out. */
import { type AccountSecrets, issueTicket, TICKET_TTL_SECONDS, verifyKommoToken } from '../core/auth';
import { rateWindow, TENANT_LIMITS, type TenantLimits } from '../core/limits';
import { HttpProblem } from '../core/problem';
import { PROTOCOL_VERSION, reauthorizationNotice } from '../core/protocol';
import type { Account, CallIndex, Clock, Logger, RateCounter, TicketStore } from '../ports';
import { type HttpHandler, header, json, withProblems } from './http';

export interface TicketsDeps {
  account: (subdomain: string) => Promise<(AccountSecrets & Pick<Account, 'status'>) | undefined>;
  tickets: TicketStore;
  rates: Pick<RateCounter, 'countTicket'>;
  limits?: Pick<TenantLimits, 'ticketsPerWindow' | 'ticketWindowMs'>;
  /** For the seq a fresh client resumes after, so even its first socket misses nothing. */
  events: Pick<CallIndex, 'latestSeq'>;
  clock: Clock;
  logger: Logger;
  /** The WebSocket API's URL (wss://…/stage) that the ticket opens. */
  webSocketUrl: string;
}

export const makeTicketsHandler = (deps: TicketsDeps): HttpHandler =>
  withProblems(deps.logger, async (event) => {
    if (event.requestContext.http.method !== 'POST') {
      throw new HttpProblem(405, 'method_not_allowed', 'use POST /tickets', undefined, { allow: 'POST' });
    }
    const now = new Date(deps.clock.now());
    const identity = await verifyKommoToken(header(event, 'x-auth-token'), deps.account, now);
    const status = (await deps.account(identity.subdomain))?.status;
    if (status === 'disabled') {
      // Kommo also calls the disable hook when only access is revoked and the widget stays loaded: its
      // admins are told, once, what to do.
      throw new HttpProblem(
        410,
        'account_disabled',
        'Callbridge is disabled for this Kommo account; install it again',
        undefined,
        {},
        identity.isAdmin ? { notice: reauthorizationNotice() } : undefined,
      );
    }
    // Counted per user, after the token is verified: a Kommo token may be reused within its minute (nothing says
    // $authorizedAjax sends a new jti each time), so the count, not single use, is what stops a script from
    // opening sockets without end. Past it, nothing is stored.
    const limits = deps.limits ?? TENANT_LIMITS;
    const window = rateWindow(now.getTime(), limits.ticketWindowMs);
    const count = await deps.rates.countTicket(
      identity.subdomain,
      identity.userId,
      window.start,
      limits.ticketWindowMs,
    );
    if (count > limits.ticketsPerWindow) {
      deps.logger.warn('tickets refused', { subdomain: identity.subdomain, userId: identity.userId, count });
      throw new HttpProblem(
        429,
        'too_many_requests',
        `at most ${limits.ticketsPerWindow} tickets a minute per user; retry in ${window.retryAfterSeconds} s`,
        undefined,
        { 'retry-after': String(window.retryAfterSeconds) },
      );
    }
    const issued = issueTicket(identity, now);
    const [seq] = await Promise.all([
      deps.events.latestSeq(identity.subdomain),
      deps.tickets.saveTicket(issued.hash, issued.record),
    ]);
    deps.logger.info('ticket issued', { subdomain: identity.subdomain, userId: identity.userId });
    const url = new URL(deps.webSocketUrl);
    url.searchParams.set('ticket', issued.ticket);
    return json(201, {
      ticket: issued.ticket,
      url: url.toString(),
      expiresAt: new Date(issued.record.expiresAt).toISOString(),
      expiresIn: TICKET_TTL_SECONDS,
      userId: identity.userId,
      isAdmin: identity.isAdmin,
      protocol: PROTOCOL_VERSION,
      seq,
      // Additive: only admins can act on it, so only they get it; the widget shows it once.
      ...(status === 'needs_reauth' && identity.isAdmin ? { notice: reauthorizationNotice() } : {}),
    });
  });
