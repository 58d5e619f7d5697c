/** npm run screenshot: regenerates docs/demo.png (shown in the README): the demo as an admin sees it, with calls. */
import { mkdirSync } from 'node:fs';
import { launchChromium } from '../infra/local/browser';
import { DEMO_CONTACTS } from '../infra/local/demo';
import { startDemoStack } from '../infra/local/main';

import { parseOrExit } from './cli';

const { positionals } = parseOrExit({
  usage: 'npm run screenshot [-- OUT.png]',
  details:
    '  Starts the demo on a free port, rings a call in Chromium and saves the page (default docs/demo.png).',
  examples: ['npm run screenshot', 'npm run screenshot -- /tmp/demo.png'],
  options: {},
  allowPositionals: true,
});
const out = positionals[0] ?? 'docs/demo.png';
const demo = await startDemoStack({ port: 0 });
const browser = await launchChromium();
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 }, deviceScaleFactor: 1 });
  await page.goto(`${demo.stack.url}/?user=101`);
  await page.waitForFunction(
    () => (window as unknown as { __demo?: { ready?: boolean } }).__demo?.ready === true,
  );
  await page.waitForFunction(() => document.getElementById('socket-count')?.textContent === '1');
  // An admin's view: the settings with the users field, an earlier missed call, and a call ringing now.
  await page.click('[data-area="settings"]');
  await page.click('[data-call="ring-unknown"]');
  await page.locator('.callbridge-call[data-state="ringing"]').waitFor();
  await page.click('[data-call="missed"]');
  await page.locator('.callbridge-call[data-state="missed"]').waitFor();
  await page.click('[data-call="ring-known"]');
  await page.locator('.toast', { hasText: DEMO_CONTACTS[0].name }).waitFor();
  await page.locator('.callbridge-call', { hasText: DEMO_CONTACTS[0].name }).waitFor();
  await page.evaluate(() => window.scrollTo(0, 0)); // the buttons scrolled the page; show it from the top
  await page.waitForTimeout(400); // let the toast's entry animation finish
  mkdirSync('docs', { recursive: true });
  await page.screenshot({ path: out });
  console.log(`wrote ${out}`);
} finally {
  await browser.close();
  await demo.stack.stop();
}
