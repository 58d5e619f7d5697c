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
const AGENT = '<img src=x onerror="window.__xss=2">Eve & Co';
let browser: Browser;
let demo: Awaited<ReturnType<typeof startDemoStack>>;

beforeAll(async () => {
  demo = await startDemoStack({
    port: 0,
    contacts: [{ id: 6666, name: HOSTILE, phone: '+1 555 666 6666' }],
    // Kommo lets a user name themselves anything; the widget passes that name to add_call as `to`.
    userNames: { 102: AGENT },
  });
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await demo?.stack.stop();
});

const call = (from: string, extra = {}, extensions = ['101']) =>
  sendSignedCall({
    url: demo.stack.url,
    subdomain: demo.account.subdomain,
    secret: demo.account.webhookSecrets[0]?.secret ?? '',
    type: 'call.ringing',
    callId: `xss-${Date.now()}-${Math.random().toString(36).slice(2, 6)}`,
    from,
    to: 'ext 101',
    extensions,
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

  it('refuses a recording link that breaks out of an attribute, naming the field', async () => {
    const res = await call('+15551234567', {
      recordingUrl: 'https://pbx/r.mp3"><img src=x onerror=alert(1)>',
    });
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body)).toContain('call.recordingUrl');
    // The parser's own form of a URL is accepted: it round-trips through new URL() unchanged.
    const fine = await call('+15551234567', { recordingUrl: 'https://pbx.example.com/r.mp3?id=1&k=2' });
    expect(fine.status).toBe(202);
  });

  it('escapes the agent’s own name and the recording link it hands to add_call, which Kommo renders as markup', async () => {
    const page = await browser.newPage();
    await page.goto(`${demo.stack.url}/?user=102`);
    await page.waitForFunction(
      () => (window as unknown as { __demo?: { ready?: boolean } }).__demo?.ready === true,
    );
    await page.waitForFunction(() => document.getElementById('socket-count')?.textContent === '1');
    const res = await call('+15551234567', { recordingUrl: 'https://pbx.example.com/r.mp3?id=1&k=2' }, [
      '102',
    ]);
    expect(res.status).toBe(202);
    const toast = page.locator('.toast').first();
    await expect.poll(() => toast.textContent(), { timeout: 10_000 }).toContain(AGENT);
    expect(await page.locator('.toast img').count()).toBe(0);
    expect(await toast.locator('a', { hasText: 'listen' }).getAttribute('href')).toBe(
      'https://pbx.example.com/r.mp3?id=1&k=2',
    );
    await page.waitForTimeout(300);
    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
    await page.close();
  });
});
