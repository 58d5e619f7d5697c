/**
 * The demo page's "Install Callbridge" step in headless Chromium: the consent popup served by the Kommo
 * emulator, Allow, the redirect to the local stack, and the account installed from Kommo.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { launchChromium } from '../../infra/local/browser';
import { DEMO_ACCOUNT_ID } from '../../infra/local/demo';
import { startDemoStack } from '../../infra/local/main';

let browser: Browser;
let demo: Awaited<ReturnType<typeof startDemoStack>>;

beforeAll(async () => {
  demo = await startDemoStack({ port: 0 });
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await demo?.stack.stop();
});

it('runs the whole OAuth dance against the emulator from the demo page, then disables it', async () => {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${demo.stack.url}/?user=101`);
  await expect.poll(() => page.locator('#kommo-state').textContent()).toContain('Not installed from Kommo');

  const [popup] = await Promise.all([page.waitForEvent('popup'), page.click('#kommo-consent')]);
  await popup.waitForSelector('#allow');
  await Promise.all([popup.waitForURL(/\/oauth\/kommo\?/), popup.click('#allow')]);
  expect(await popup.textContent('h1')).toBe('Callbridge is being installed');
  await demo.stack.kommo.idle();

  await expect
    .poll(() => page.locator('#kommo-state').textContent(), { timeout: 10_000 })
    .toContain(`Kommo account ${DEMO_ACCOUNT_ID}: installation active, account active`);
  expect(await page.locator('#kommo-state').textContent()).toContain('"101":"101"');
  // The dev account was adopted, not replaced: its webhook secret is the one the demo's buttons sign with.
  const account = await demo.stack.accounts.getAccount(demo.account.subdomain);
  expect(account?.webhookSecrets[0]?.secret).toBe(demo.account.webhookSecrets[0]?.secret);
  expect(account?.kommoAccountId).toBe(DEMO_ACCOUNT_ID);

  await page.click('#kommo-disable');
  await expect
    .poll(() => page.locator('#kommo-state').textContent(), { timeout: 10_000 })
    .toContain('installation disabled, account disabled');
  expect(errors).toEqual([]);
}, 60_000);
