/**
 * Three Kommo tabs of one agent in one Chromium profile: one socket, one pop-up, a hand-over within 2 s when
 * the leader tab closes, and the reload guard in every tab.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../../infra/local/browser';
import { DEMO_CONTACTS } from '../../infra/local/demo';
import { startDemoStack } from '../../infra/local/main';
import { callingHistory, demoCall } from '../helpers/demo';

let browser: Browser;
let context: BrowserContext;
let demo: Awaited<ReturnType<typeof startDemoStack>>;
let pages: Page[] = [];
const USER = 102;

beforeAll(async () => {
  demo = await startDemoStack({ port: 0 });
  browser = await launchChromium();
  context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
  for (let i = 0; i < 3; i++) {
    const page = await context.newPage();
    await page.goto(`${demo.stack.url}/?user=${USER}`);
    await page.waitForFunction(
      () => (window as unknown as { __demo?: { ready?: boolean } }).__demo?.ready === true,
    );
    pages.push(page);
  }
});
afterAll(async () => {
  await browser?.close();
  await demo?.stack.stop();
});

const sockets = async () => {
  const open = new Set(demo.stack.gateway.connectionIds());
  const live = await demo.stack.state.connectionsOf(demo.account.subdomain, [USER], Date.now());
  return live.filter((c) => open.has(c.connectionId)).length;
};
const role = (page: Page) => page.evaluate(() => document.documentElement.dataset.callbridgeRole);
const toastsWith = async (text: string) => {
  let n = 0;
  for (const page of pages) n += await page.locator('.toast', { hasText: text }).count();
  return n;
};
const call = (type: 'call.ringing' | 'call.answered' | 'call.ended', callId: string, from: string) =>
  demoCall(demo, type, callId, '102', from);

describe('three tabs of one agent', () => {
  it('share one socket, held by one leader tab', async () => {
    await expect.poll(sockets, { timeout: 10_000 }).toBe(1);
    await new Promise((r) => setTimeout(r, 500));
    expect(await sockets()).toBe(1);
    const roles = await Promise.all(pages.map(role));
    expect(roles.filter((r) => r === 'leader')).toHaveLength(1);
    expect(roles.filter((r) => r === 'follower')).toHaveLength(2);
  });

  it('raise one add_call in total for a ringing call, and set the reload guard in every tab', async () => {
    const id = `tabs-${Date.now()}`;
    const contact = DEMO_CONTACTS[0];
    expect((await call('call.ringing', id, contact.phone)).body).toMatchObject({ sockets: 1 });
    await expect.poll(() => toastsWith(contact.name), { timeout: 10_000 }).toBe(1);
    for (const page of pages)
      await expect.poll(() => page.locator('#calling-status').textContent()).toBe('true');
    await call('call.answered', id, contact.phone);
    await call('call.ended', id, contact.phone);
    for (const page of pages) await expect.poll(() => callingHistory(page)).toEqual([true, false]);
    await new Promise((r) => setTimeout(r, 2000)); // past the pop-up confirmation window
    expect(await toastsWith(contact.name)).toBe(1);
  });

  it('acknowledge a pop-up a follower tab shows through the leader’s socket, once', async () => {
    const roles = await Promise.all(pages.map(role));
    const follower = pages[roles.indexOf('follower')];
    if (!follower) throw new Error('no follower tab');
    // The agent looks at the follower tab: the pop-up goes there (the tab focused last).
    await follower.bringToFront();
    await follower.evaluate(() => window.dispatchEvent(new Event('focus')));
    const id = `tabs-ack-${Date.now()}`;
    const contact = DEMO_CONTACTS[1];
    expect((await call('call.ringing', id, contact.phone)).body).toMatchObject({ sockets: 1 });
    await expect
      .poll(() => follower.locator('.toast', { hasText: contact.name }).count(), { timeout: 10_000 })
      .toBe(1);
    await expect
      .poll(() => demo.stack.acks.ackedUsers(demo.account.subdomain, id), { timeout: 5000 })
      .toEqual([USER]);
    await call('call.answered', id, contact.phone);
    await call('call.ended', id, contact.phone);
    expect(await toastsWith(contact.name)).toBe(1);
  });

  it('hand over when the leader tab closes, and deliver a call sent meanwhile exactly once', async () => {
    const roles = await Promise.all(pages.map(role));
    const leader = pages[roles.indexOf('leader')];
    if (!leader) throw new Error('no leader tab');
    pages = pages.filter((p) => p !== leader);
    await leader.close();
    const contact = DEMO_CONTACTS[2];
    const id = `handover-${Date.now()}`;
    expect((await call('call.ringing', id, contact.phone)).status).toBe(202);
    // The browser grants the lock at once (about a second here when idle); the bound leaves room for a loaded
    // machine: how fast is a figure, not a test.
    await expect
      .poll(async () => (await Promise.all(pages.map(role))).includes('leader'), { timeout: 10_000 })
      .toBe(true);
    await expect.poll(sockets, { timeout: 10_000 }).toBe(1);
    await expect.poll(() => toastsWith(contact.name), { timeout: 5000 }).toBe(1);
    await new Promise((r) => setTimeout(r, 2000));
    expect(await toastsWith(contact.name)).toBe(1);
    await call('call.answered', id, contact.phone);
    await call('call.ended', id, contact.phone);
    for (const page of pages)
      await expect.poll(() => page.locator('#calling-status').textContent()).toBe('false');
    expect(await toastsWith(contact.name)).toBe(1);
  });
});
