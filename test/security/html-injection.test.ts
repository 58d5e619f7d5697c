/**
 * Markup never reaches the page as markup: caller numbers and recording links are validated at the webhook
 * (see hostile-input.test.ts), the widget escapes what it passes to add_call, and a Kommo contact named
 * like an attack renders as text in the demo page, in Chromium.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../../infra/local/browser';
import { startDemoStack } from '../../infra/local/main';
import { sendSignedCall } from '../../infra/local/signed-call';

const HOSTILE = '<img src=x onerror="window.__xss=1">Mallory';
let browser: Browser;
let demo: Awaited<ReturnType<typeof startDemoStack>>;

beforeAll(async () => {
  demo = await startDemoStack({ port: 0, contacts: [{ id: 6666, name: HOSTILE, phone: '+1 555 666 6666' }] });
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await demo?.stack.stop();
});

const call = (from: string, extra = {}) =>
  sendSignedCall({
    url: demo.stack.url,
    subdomain: demo.account.subdomain,
    secret: demo.account.webhookSecrets[0]?.secret ?? '',
    type: 'call.ringing',
    callId: `xss-${Date.now()}-${Math.random().toString(36).slice(2, 6)}`,
    from,
    to: 'ext 101',
    extensions: ['101'],
    extra,
  });

describe('HTML injection', () => {
  it('renders a caller whose contact name is markup as text', async () => {
    const page = await browser.newPage();
    await page.goto(`${demo.stack.url}/?user=101`);
    await page.waitForFunction(
      () => (window as unknown as { __demo?: { ready?: boolean } }).__demo?.ready === true,
    );
    await page.waitForFunction(() => document.getElementById('socket-count')?.textContent === '1');
    expect((await call('+1 555 666 6666')).status).toBe(202);
    const toast = page.locator('.toast').first();
    await expect.poll(() => toast.textContent(), { timeout: 10_000 }).toContain(HOSTILE);
    expect(await page.locator('.toast img').count()).toBe(0);
    await page.waitForTimeout(300);
    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
    await page.close();
  });

  it('refuses markup in the caller number and a javascript: recording link before anything is pushed', async () => {
    expect((await call('<img src=x onerror=alert(1)>')).status).toBe(400);
    expect((await call('+15551234567', { recordingUrl: 'javascript:alert(1)' })).status).toBe(400);
  });
});
