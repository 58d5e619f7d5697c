/**
 * The demo page in headless Chromium against the local stack: the built widget, a Kommo-like shell, real
 * tickets, sockets and signed webhooks. Nothing is mocked that can run here.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../../infra/local/browser';
import { DEMO_CONTACTS, UNKNOWN_CALLER } from '../../infra/local/demo';
import { startDemoStack } from '../../infra/local/main';
import { sendSignedCall } from '../../infra/local/signed-call';
import { callingHistory, demoCall } from '../helpers/demo';

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

const socketsOf = async (userId: number) => {
  const open = new Set(demo.stack.gateway.connectionIds());
  const live = await demo.stack.state.connectionsOf(demo.account.subdomain, [userId], Date.now());
  return live.filter((c) => open.has(c.connectionId));
};

const openDemo = async (userId: number): Promise<Page> => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 760 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${demo.stack.url}/?user=${userId}`);
  await page.waitForFunction(
    () => (window as unknown as { __demo?: { ready?: boolean } }).__demo?.ready === true,
  );
  await expect.poll(async () => (await socketsOf(userId)).length, { timeout: 10_000 }).toBe(1);
  expect(errors).toEqual([]);
  return page;
};

const call = (
  type: 'call.ringing' | 'call.answered' | 'call.ended',
  callId: string,
  extension: string,
  from?: string,
) => demoCall(demo, type, callId, extension, from);

describe('demo page', () => {
  it('shows the add_call pop-up with the caller and the matched contact, and the reload guard through the call', async () => {
    const page = await openDemo(101);
    const id = `e2e-${Date.now()}`;
    expect((await call('call.ringing', id, '101')).status).toBe(202);
    const toast = page.locator('.toast').first();
    await expect.poll(() => toast.textContent(), { timeout: 10_000 }).toContain(DEMO_CONTACTS[0].phone);
    expect(await toast.textContent()).toContain(DEMO_CONTACTS[0].name);
    // The widget told the backend the pop-up is on screen (its `ack`), so Kommo's bell stays quiet for Ada.
    await expect
      .poll(() => demo.stack.acks.ackedUsers(demo.account.subdomain, id), { timeout: 5000 })
      .toEqual([101]);
    await expect.poll(() => page.locator('#calling-status').textContent()).toBe('true');
    await call('call.answered', id, '101');
    await call('call.ended', id, '101');
    await expect.poll(() => page.locator('#calling-status').textContent()).toBe('false');
    expect(await callingHistory(page)).toEqual([true, false]);
    expect(await page.locator('.toast').count()).toBe(1);
    await page.close();
  });

  it('keeps one socket while the agent moves through five areas', async () => {
    const page = await openDemo(102);
    const before = (await socketsOf(102))[0]?.connectionId;
    for (const area of ['leads', 'lead-card', 'contacts', 'contact-card', 'tasks']) {
      await page.click(`[data-area="${area}"]`);
      expect(await page.locator('#current-area').textContent()).toBe(area);
    }
    await page.waitForTimeout(300);
    const after = await socketsOf(102);
    expect(after.map((c) => c.connectionId)).toEqual([before]);
    await page.close();
  });

  it('shows the connection state and webhook URL in the settings area', async () => {
    const page = await openDemo(101);
    await page.click('[data-area="settings"]');
    const text = await page.locator('#settings-modal').textContent();
    expect(text).toContain('Connection: connected');
    expect(text).toContain(`${demo.stack.url}/webhooks/${demo.account.subdomain}`);
    await page.close();
  });

  it("lets an admin map extensions in the users field and saves them through the widget's onSave", async () => {
    const page = await openDemo(101);
    await page.click('[data-area="settings"]');
    // Kommo's users field: a row per user of the account, each with its extension.
    const rows = page.locator('fieldset[data-field="phones"] .user-row');
    expect(await rows.count()).toBe(3);
    expect(await rows.nth(1).textContent()).toContain('Linus Torvalds');
    expect(await page.locator('input[data-user="102"]').inputValue()).toBe('102');
    const puts: string[] = [];
    page.on('request', (r) => {
      if (r.method() === 'PUT' && r.url().endsWith('/agents')) puts.push(r.postData() ?? '');
    });
    await page.fill('input[data-user="102"]', '202');
    await page.click('#settings-save');
    await expect.poll(() => page.locator('#settings-result').textContent()).toBe('Saved');
    expect(puts).toEqual([JSON.stringify({ agents: { '101': '101', '102': '202', '103': '103' } })]);
    expect(await demo.stack.state.getAgentMap(demo.account.subdomain)).toEqual({
      '101': '101',
      '102': '202',
      '103': '103',
    });
    // The new extension rings Linus; the old one rings nobody.
    const mapped = `e2e-map-${Date.now()}`;
    const ring = await call('call.ringing', mapped, '202');
    expect(ring.body).toMatchObject({ users: 1 });
    const old = await call('call.ringing', `e2e-old-${Date.now()}`, '102');
    expect(old.body).toMatchObject({ users: 0, unmatchedExtensions: ['102'] });
    await call('call.answered', mapped, '202');
    await call('call.ended', mapped, '202');
    // Put it back for the other tests, through the same form.
    await page.fill('input[data-user="102"]', '102');
    await page.click('#settings-save');
    await expect
      .poll(async () => (await demo.stack.state.getAgentMap(demo.account.subdomain))['102'])
      .toBe('102');
    await page.close();
  });

  it('does not show the settings form to an agent who is not an admin', async () => {
    const page = await openDemo(103);
    await page.click('[data-area="settings"]');
    expect(await page.locator('#settings-modal').textContent()).toContain('Only account admins');
    expect(await page.locator('#settings-save').count()).toBe(0);
    await page.close();
  });

  it('shows each call as it is now: incoming, in progress, gone when it ends, and a missed call as such', async () => {
    const page = await openDemo(102);
    const card = page.locator('.callbridge-call');
    await page.click('[data-call="ring-unknown"]');
    await expect.poll(() => card.getAttribute('data-state'), { timeout: 10_000 }).toBe('ringing');
    expect(await card.textContent()).toContain('incoming call');
    expect(await card.textContent()).toContain(UNKNOWN_CALLER);
    await page.click('[data-call="answer"]');
    await expect.poll(() => card.getAttribute('data-state')).toBe('answered');
    expect(await card.textContent()).toContain('call in progress');
    expect(await card.textContent()).not.toContain('incoming call');
    await page.click('[data-call="end"]');
    await expect.poll(() => card.count()).toBe(0);
    await expect.poll(() => page.locator('#calling-status').textContent()).toBe('false');

    // A missed call from the known caller: the card turns red and names the caller and the contact.
    await page.click('[data-call="ring-known"]');
    await expect.poll(() => card.getAttribute('data-state'), { timeout: 10_000 }).toBe('ringing');
    await expect.poll(() => card.textContent()).toContain(DEMO_CONTACTS[0].name);
    await page.click('[data-call="missed"]');
    await expect.poll(() => card.getAttribute('data-state')).toBe('missed');
    expect(await card.textContent()).toContain('missed call');
    expect(await card.textContent()).toContain(DEMO_CONTACTS[0].phone);
    const ringingColor = 'rgb(232, 243, 255)';
    expect(await card.evaluate((e) => getComputedStyle(e).backgroundColor)).not.toBe(ringingColor);
    // Kommo's notifications: one add_call per ringing call, and a missed-call entry with the same caller.
    const toasts = await page.locator('.toast').allTextContents();
    expect(toasts).toHaveLength(3);
    expect(toasts[0]).toContain('missed call');
    expect(toasts[0]).toContain(DEMO_CONTACTS[0].phone);
    expect(toasts[1]).toContain('incoming call');
    expect(toasts[2]).toContain(UNKNOWN_CALLER);
    await page.click('.callbridge-call__dismiss');
    await expect.poll(() => card.count()).toBe(0);
    await page.close();
  });

  it('shows an error toast with its text and no stray label', async () => {
    const page = await openDemo(101);
    await page.evaluate(() =>
      (
        window as unknown as { APP: { notifications: { add_error(p: unknown): void } } }
      ).APP.notifications.add_error({ header: 'Callbridge', text: 'Calls cannot reach this page.', date: 0 }),
    );
    const row = page.locator('.toast.error .row').first();
    expect(await row.textContent()).toBe('Calls cannot reach this page.');
    await page.close();
  });

  it('delivers a call sent while the socket reconnects, once it is back', async () => {
    const page = await openDemo(103);
    // Hold the next ticket request until the call has been sent, so the call surely lands mid-reconnect.
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    await page.route('**/demo/token**', async (route) => {
      await held;
      await route.continue();
    });
    const [connection] = await socketsOf(103);
    expect(demo.stack.gateway.dropConnection(connection?.connectionId ?? '')).toBe(true);
    await expect.poll(async () => (await socketsOf(103)).length).toBe(0);
    const id = `e2e-reconnect-${Date.now()}`;
    const sent = await call('call.ringing', id, '103', DEMO_CONTACTS[1].phone);
    expect(sent.body).toMatchObject({ status: 'accepted', sockets: 0 });
    expect(await page.locator('.toast').count()).toBe(0);
    release();
    await expect.poll(async () => (await socketsOf(103)).length, { timeout: 10_000 }).toBe(1);
    await expect
      .poll(() => page.locator('.toast').first().textContent(), { timeout: 10_000 })
      .toContain(DEMO_CONTACTS[1].name);
    expect(await page.locator('.toast').count()).toBe(1);
    await page.close();
  });

  it('rings through the page buttons too', async () => {
    const page = await openDemo(101);
    await page.click('[data-call="ring-unknown"]');
    await expect
      .poll(() => page.locator('.toast').first().textContent(), { timeout: 10_000 })
      .toContain('+1 555 000 0199');
    expect(await page.locator('.toast').first().textContent()).not.toContain('Contact');
    await page.close();
  });

  // Last: it installs the demo account from the Kommo emulator, which the tests above do not expect.
  it('after an install from Kommo, a Save stores the settings in Kommo and the backend reads them from there', async () => {
    const page = await openDemo(101);
    expect(
      await page.evaluate(async () => (await fetch('/demo/kommo/install', { method: 'POST' })).status),
    ).toBe(200);
    await demo.stack.kommo.idle();
    await expect
      .poll(async () => (await demo.stack.accounts.getAccount(demo.account.subdomain))?.status, {
        timeout: 10_000,
      })
      .toBe('active');
    await page.click('[data-area="settings"]');
    const answers: unknown[] = [];
    page.on('response', async (r) => {
      if (r.request().method() === 'PUT' && r.url().endsWith('/agents')) answers.push(await r.json());
    });
    await page.fill('input[data-user="103"]', '303');
    await page.click('#settings-save');
    await expect
      .poll(() => page.locator('#settings-result').textContent(), { timeout: 10_000 })
      .toBe('Saved');
    await expect.poll(() => answers.length).toBe(1);
    expect(answers[0]).toMatchObject({ source: 'kommo', agents: { '103': '303' } });
    expect(await demo.stack.state.getAgentMap(demo.account.subdomain)).toMatchObject({ '103': '303' });
    await page.close();
  });

  // After the install above: the calls reach the Kommo emulator through the CRM queue and its worker.
  it('shows what calls left in Kommo in the contact cards: entries with recordings, the incoming lead, the task', async () => {
    const page = await openDemo(101);
    const stranger = '+1 555 000 0177';
    const voicemail = 'https://recordings.example/e2e-voicemail.mp3';
    const talk = 'https://recordings.example/e2e-talk.mp3';
    const send = (
      type: 'call.ringing' | 'call.answered' | 'call.ended',
      callId: string,
      from: string,
      extra?: Record<string, unknown>,
    ) =>
      sendSignedCall({
        url: demo.stack.url,
        subdomain: demo.account.subdomain,
        secret: demo.account.webhookSecrets[0]?.secret ?? '',
        type,
        callId,
        from,
        to: 'ext 101',
        extensions: ['101'],
        extra,
      });
    // An unknown caller leaves a voicemail (a missed call with a recording); a contact's call is answered.
    const missed = `e2e-card-missed-${Date.now()}`;
    expect((await send('call.ringing', missed, stranger)).status).toBe(202);
    expect(
      (await send('call.ended', missed, stranger, { outcome: 'voicemail', recordingUrl: voicemail })).status,
    ).toBe(202);
    const answered = `e2e-card-answered-${Date.now()}`;
    await send('call.ringing', answered, DEMO_CONTACTS[1].phone);
    await send('call.answered', answered, DEMO_CONTACTS[1].phone);
    await send('call.ended', answered, DEMO_CONTACTS[1].phone, { duration: 42, recordingUrl: talk });

    await page.click('[data-area="contact-card"]');
    // The unknown caller's card: the incoming lead Kommo made, the call on it with its recording, the task.
    const strangerCard = page.locator('.contact-card', { hasText: stranger });
    await expect.poll(() => strangerCard.locator('.card-task').count(), { timeout: 20_000 }).toBe(1);
    expect(await strangerCard.locator('.card-lead').textContent()).toContain('Incoming leads (Unsorted)');
    const call = strangerCard.locator(`.card-call[data-uniq="${missed}"]`);
    expect(await call.locator('a.recording').getAttribute('href')).toBe(voicemail);
    expect(await strangerCard.locator('.card-task').textContent()).toContain(`Call back ${stranger}`);
    expect(await strangerCard.locator('.card-task').textContent()).toContain('for Ada Lovelace');
    // The contact's card: the call entry, its outcome, who took it and the recording.
    const contactCard = page.locator('.contact-card', { hasText: DEMO_CONTACTS[1].name });
    const entry = contactCard.locator(`.card-call[data-uniq="${answered}"]`);
    await expect.poll(() => entry.count(), { timeout: 20_000 }).toBe(1);
    expect(await entry.textContent()).toContain('42 s · conversation · Ada Lovelace');
    expect(await entry.locator('a.recording').getAttribute('href')).toBe(talk);
    await page.close();
  });
});
