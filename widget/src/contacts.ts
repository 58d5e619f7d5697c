/**
 * Finds the Kommo contact behind a caller number, through the account's own REST API (same origin, the
 * agent's session). Kommo matches calls on the last 10 digits, so lookups do too; answers are cached for a
 * few minutes because one caller often rings several times and Kommo allows ~7 requests/s per account.
 */
export type FetchLike = (url: string, init?: RequestInit) => Promise<Response>;

export interface ContactMatch {
  id: number;
  name?: string;
}

export const lastDigits = (phone: string, count = 10): string => phone.replace(/\D/g, '').slice(-count);

export class ContactLookup {
  private readonly cache = new Map<string, { at: number; match: ContactMatch | undefined }>();

  constructor(
    private readonly fetchImpl: FetchLike,
    private readonly now: () => number,
    private readonly ttlMs = 5 * 60_000,
    private readonly timeoutMs = 2_000,
  ) {}

  async find(phone: string): Promise<ContactMatch | undefined> {
    const digits = lastDigits(phone);
    if (digits.length < 5) return undefined;
    const hit = this.cache.get(digits);
    if (hit && this.now() - hit.at < this.ttlMs) return hit.match;
    let match: ContactMatch | undefined;
    try {
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), this.timeoutMs);
      const res = await this.fetchImpl(`/api/v4/contacts?query=${encodeURIComponent(digits)}&limit=1`, {
        credentials: 'same-origin',
        headers: { accept: 'application/json', 'x-requested-with': 'XMLHttpRequest' },
        signal: controller.signal,
      }).finally(() => clearTimeout(timer));
      // Kommo answers 204 No Content when nothing matches.
      if (res.status === 200) {
        const body = (await res.json()) as { _embedded?: { contacts?: { id?: unknown; name?: unknown }[] } };
        const first = body._embedded?.contacts?.[0];
        if (first && typeof first.id === 'number') {
          match = { id: first.id, ...(typeof first.name === 'string' ? { name: first.name } : {}) };
        }
      } else if (res.status !== 204) {
        return undefined; // a failure is not an answer: do not cache it
      }
    } catch {
      return undefined;
    }
    this.cache.set(digits, { at: this.now(), match });
    return match;
  }
}
