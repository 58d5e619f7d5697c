import { describe, expect, it } from 'vitest';
import { LocalMessageCounts, rateWindow, socketsOverCap, TENANT_LIMITS } from '../../lambdas/core/limits';
import { canonicalHttpsUrl, toCanonicalHttpsUrl } from '../../lambdas/core/url';

describe('tenant limits', () => {
  it('closes the oldest sockets past the cap, never the one just opened', () => {
    const sockets = [
      { connectionId: 'a', connectedAt: 1 },
      { connectionId: 'b', connectedAt: 3 },
      { connectionId: 'new', connectedAt: 2 }, // a clock that went back must not make it the victim
      { connectionId: 'c', connectedAt: 4 },
    ];
    expect(socketsOverCap(sockets, 'new', 2).map((s) => s.connectionId)).toEqual(['b', 'a']);
    expect(socketsOverCap(sockets, 'new', 4)).toEqual([]);
  });

  it('puts a moment in its fixed window and says how long until the next', () => {
    expect(rateWindow(125_500, 60_000)).toEqual({ start: 120_000, retryAfterSeconds: 55 });
    expect(rateWindow(179_999, 60_000)).toEqual({ start: 120_000, retryAfterSeconds: 1 });
  });

  it('spends a socket’s burst and refills it with time, per socket and per window', () => {
    const counts = new LocalMessageCounts({ burstMessages: 3, burstRefillPerSecond: 1 });
    const tokens = [0, 0, 0, 0].map(() => counts.hit('s1', 0, false, 1000).tokens);
    expect(tokens).toEqual([2, 1, 0, -1]);
    expect(counts.hit('s2', 0, false, 1000).tokens).toBe(2);
    // Two seconds later two tokens are back; a new window restarts the counts but not the burst.
    expect(counts.hit('s1', 0, true, 3000)).toEqual({ messages: 5, resumes: 1, tokens: 0 });
    expect(counts.hit('s1', 60_000, false, 3000)).toEqual({ messages: 1, resumes: 0, tokens: -1 });
    expect(TENANT_LIMITS.closeAfterMessages).toBeGreaterThan(TENANT_LIMITS.messagesPerWindow);
  });
});

describe('links handed to the browser', () => {
  it('accepts only https URLs that new URL() leaves unchanged', () => {
    expect(canonicalHttpsUrl('https://pbx.example.com/r.mp3?id=1&k=2')).toBe(
      'https://pbx.example.com/r.mp3?id=1&k=2',
    );
    for (const bad of [
      'https://pbx/r.mp3"><img src=x onerror=alert(1)>',
      'https://PBX.example.com/r.mp3',
      'https://pbx.example.com/a b.mp3',
      'http://pbx.example.com/r.mp3',
      'javascript:alert(1)',
      `https://pbx.example.com/${'a'.repeat(2048)}`,
    ]) {
      expect(canonicalHttpsUrl(bad), bad).toBeUndefined();
    }
  });

  it('puts a provider’s https link in canonical form, markup percent-encoded, and drops anything else', () => {
    expect(toCanonicalHttpsUrl('https://pbx/r.mp3"><img src=x>')).toBe(
      'https://pbx/r.mp3%22%3E%3Cimg%20src=x%3E',
    );
    expect(toCanonicalHttpsUrl('http://pbx/r.mp3')).toBeUndefined();
    expect(toCanonicalHttpsUrl(undefined)).toBeUndefined();
  });
});
