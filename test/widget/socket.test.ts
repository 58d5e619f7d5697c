/**
 * The socket client against a real `ws` server. Our timers run on a fake clock handed to the client (the
 * server's I/O stays real), so minutes of pings and backoff pass instantly and deterministically.
 */
import type { AddressInfo } from 'node:net';
import { type Clock, createClock } from '@sinonjs/fake-timers';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import type { ServerMessage } from '../../lambdas/core/protocol';
import { CallbridgeSocket, SOCKET_DEFAULTS, type WebSocketConstructor } from '../../widget/src/socket';

let server: WebSocketServer;
let clock: Clock;
let tickets = 0;
let mute = false;
/** Resumes the server leaves unanswered (throttled or dropped), before it answers again. */
let ignoreResumes = 0;
const resumes: (number | undefined)[] = [];
const serverSockets: WebSocket[] = [];

beforeEach(async () => {
  tickets = 0;
  mute = false;
  ignoreResumes = 0;
  resumes.length = 0;
  serverSockets.length = 0;
  clock = createClock(1_000_000);
  server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise((resolve) => server.once('listening', resolve));
  server.on('connection', (ws) => {
    serverSockets.push(ws);
    ws.on('message', (data) => {
      const message = JSON.parse(String(data)) as { action: string; after?: number };
      if (message.action === 'ping' && !mute) ws.send(JSON.stringify({ v: 1, type: 'pong' }));
      if (message.action === 'resume') {
        resumes.push(message.after);
        if (ignoreResumes > 0) {
          ignoreResumes--;
          ws.send(JSON.stringify({ v: 1, type: 'error', code: 'internal_error', message: 'retry' }));
          return;
        }
        ws.send(JSON.stringify({ v: 1, type: 'snapshot', seq: message.after ?? 0, calls: [] }));
      }
    });
  });
});
afterEach(async () => {
  for (const ws of server.clients) ws.terminate();
  await new Promise((resolve) => server.close(resolve));
});

const url = () => `ws://127.0.0.1:${(server.address() as AddressInfo).port}/?ticket=t${++tickets}`;

const client = (overrides: Partial<ConstructorParameters<typeof CallbridgeSocket>[0]> = {}) => {
  const messages: ServerMessage[] = [];
  const socket = new CallbridgeSocket({
    getUrl: async () => url(),
    onMessage: (m) => messages.push(m),
    WebSocket: WebSocket as unknown as WebSocketConstructor,
    timers: { setTimeout: clock.setTimeout, clearTimeout: clock.clearTimeout, now: () => clock.now },
    random: () => 0.5,
    ...overrides,
  });
  return { socket, messages };
};

const openSockets = () => [...server.clients].filter((ws) => ws.readyState === WebSocket.OPEN).length;

const pushCall = (ws: WebSocket | undefined, seq: number) =>
  ws?.send(
    JSON.stringify({
      v: 1,
      type: 'call',
      seq,
      view: {
        state: 'ringing',
        call: { id: `c${seq}`, direction: 'inbound', from: '+1555', to: '101' },
        occurredAt: '2026-11-21T10:00:00Z',
      },
    }),
  );

describe('CallbridgeSocket', () => {
  it('connects with a ticket and asks for a snapshot first', async () => {
    const { socket, messages } = client();
    socket.start();
    await vi.waitFor(() => expect(messages.some((m) => m.type === 'snapshot')).toBe(true));
    expect(resumes).toEqual([undefined]);
    expect(socket.status).toBe('open');
    socket.stop();
  });

  it('after a drop, reconnects with a fresh ticket and resumes after the last seq seen', async () => {
    const { socket, messages } = client();
    socket.start();
    await vi.waitFor(() => expect(socket.isOpen).toBe(true));
    pushCall(serverSockets[0], 7);
    await vi.waitFor(() => expect(messages.some((m) => m.type === 'call')).toBe(true));
    serverSockets[0]?.close(1001, 'Going away');
    await vi.waitFor(() => expect(socket.status).toBe('reconnecting'));
    // Full jitter with random() = 0.5: the first retry waits 500 ms.
    clock.tick(499);
    expect(tickets).toBe(1);
    clock.tick(1);
    await vi.waitFor(() => expect(resumes).toEqual([undefined, 7]));
    expect(tickets).toBe(2);
    socket.stop();
  });

  it('asks again, backing off, until a refused or dropped resume gets its snapshot; then resyncs now and then', async () => {
    ignoreResumes = 2;
    const { socket, messages } = client();
    socket.start();
    await vi.waitFor(() => expect(resumes).toHaveLength(1));
    // The socket stays open and answers pings, but without a snapshot the widget would miss calls: retry.
    clock.tick(SOCKET_DEFAULTS.resumeRetryMs * 1.25);
    await vi.waitFor(() => expect(resumes).toHaveLength(2));
    clock.tick(SOCKET_DEFAULTS.resumeRetryMs * 2 * 1.25);
    await vi.waitFor(() => expect(messages.some((m) => m.type === 'snapshot')).toBe(true));
    expect(resumes).toHaveLength(3);
    // Complete: no more retries, until the periodic resync.
    clock.tick(SOCKET_DEFAULTS.resyncIntervalMs - 1);
    expect(resumes).toHaveLength(3);
    clock.tick(1);
    await vi.waitFor(() => expect(resumes).toHaveLength(4));
    socket.stop();
  });

  it('drops a repeated seq', async () => {
    const { socket, messages } = client();
    socket.start();
    await vi.waitFor(() => expect(socket.isOpen).toBe(true));
    pushCall(serverSockets[0], 3);
    pushCall(serverSockets[0], 3);
    pushCall(serverSockets[0], 2);
    await vi.waitFor(() => expect(messages.filter((m) => m.type === 'call')).toHaveLength(2));
    expect(socket.lastSeq).toBe(3);
    socket.stop();
  });

  it('pings within 5 minutes and replaces a half-open socket that stops answering', async () => {
    expect(SOCKET_DEFAULTS.pingIntervalMs).toBeLessThanOrEqual(5 * 60_000);
    const { socket } = client();
    socket.start();
    await vi.waitFor(() => expect(socket.isOpen).toBe(true));
    mute = true;
    clock.tick(SOCKET_DEFAULTS.pingIntervalMs);
    clock.tick(SOCKET_DEFAULTS.pongTimeoutMs);
    expect(socket.status).toBe('reconnecting');
    mute = false;
    clock.tick(SOCKET_DEFAULTS.reconnectBaseMs);
    await vi.waitFor(() => expect(socket.isOpen).toBe(true));
    expect(tickets).toBe(2);
    await vi.waitFor(() => expect(openSockets()).toBe(1));
    socket.stop();
  });

  it('keeps an answering socket past many ping periods', async () => {
    const { socket } = client();
    socket.start();
    await vi.waitFor(() => expect(socket.isOpen).toBe(true));
    for (let i = 0; i < 5; i++) {
      clock.tick(SOCKET_DEFAULTS.pingIntervalMs);
      await vi.waitFor(() => expect(serverSockets[0]?.readyState).toBe(WebSocket.OPEN));
      await new Promise((r) => setTimeout(r, 20));
      clock.tick(1000);
    }
    expect(tickets).toBe(1);
    expect(socket.isOpen).toBe(true);
    socket.stop();
  });

  it('backs off exponentially with jitter, capped at 30 s, while tickets fail', async () => {
    let attempts = 0;
    const { socket } = client({
      getUrl: async () => {
        attempts++;
        throw new Error('offline');
      },
      random: () => 0.999,
    });
    socket.start();
    await vi.waitFor(() => expect(attempts).toBe(1));
    const waits: number[] = [];
    for (let i = 0; i < 8; i++) {
      const before = attempts;
      let waited = 0;
      while (attempts === before) {
        clock.tick(100);
        waited += 100;
        await Promise.resolve();
        await Promise.resolve();
      }
      waits.push(waited);
    }
    expect(waits[0]).toBeLessThanOrEqual(1000);
    for (let i = 1; i < waits.length; i++) expect(waits[i]).toBeGreaterThanOrEqual(waits[i - 1] ?? 0);
    expect(Math.max(...waits)).toBeLessThanOrEqual(30_000);
    expect(waits.at(-1)).toBeGreaterThan(25_000);
    socket.stop();
  });

  it('reconnects at once when poked (online, visible) instead of waiting out the backoff', async () => {
    let fail = true;
    const { socket } = client({
      getUrl: async () => {
        if (fail) throw new Error('offline');
        return url();
      },
      random: () => 0.999,
    });
    socket.start();
    await vi.waitFor(() => expect(socket.status).toBe('reconnecting'));
    fail = false;
    socket.poke();
    await vi.waitFor(() => expect(socket.isOpen).toBe(true));
    socket.stop();
  });

  it('rolls over to a new socket before the 2-hour limit, closing the old one only once the new one is up', async () => {
    expect(SOCKET_DEFAULTS.rolloverAfterMs).toBeLessThan(2 * 3600_000);
    const { socket, messages } = client();
    socket.start();
    await vi.waitFor(() => expect(socket.isOpen).toBe(true));
    pushCall(serverSockets[0], 11);
    await vi.waitFor(() => expect(messages.some((m) => m.type === 'call')).toBe(true));
    clock.tick(SOCKET_DEFAULTS.rolloverAfterMs);
    await vi.waitFor(() => expect(resumes).toEqual([undefined, 11]));
    await vi.waitFor(() => expect(openSockets()).toBe(1));
    expect(serverSockets[1]?.readyState).toBe(WebSocket.OPEN);
    expect(socket.isOpen).toBe(true);
    socket.stop();
  });

  it('stops for good', async () => {
    const { socket } = client();
    socket.start();
    await vi.waitFor(() => expect(socket.isOpen).toBe(true));
    socket.stop();
    await vi.waitFor(() => expect(openSockets()).toBe(0));
    clock.tick(10 * 60_000);
    expect(tickets).toBe(1);
  });
});
