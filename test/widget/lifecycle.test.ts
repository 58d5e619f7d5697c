// @vitest-environment happy-dom
/**
 * The widget's lifecycle as Kommo drives it for an `init_once` widget, against the real local backend:
 * render on every area, init and bind_actions once, destroy when the admin disables it.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { WebSocket } from 'ws';
import { newAccount } from '../../lambdas/core/accounts';
import type { KommoSelf } from '../../widget/src/kommo';
import { createWidget } from '../../widget/src/script';
import type { WebSocketConstructor } from '../../widget/src/socket';
import { contactsFetch, fakeKommo } from '../helpers/kommo';
import { CLIENT_SECRET, callEvent, startTestStack, type TestStack } from '../helpers/stack';

let t: TestStack;
beforeAll(async () => {
  t = await startTestStack();
});
afterAll(() => t.stop());

type WidgetInstance = KommoSelf & { callbacks: Record<string, (...args: unknown[]) => unknown> };

const mount = (userId: number, opts: { secret?: string; apiUrl?: string; isAdmin?: boolean } = {}) => {
  const kommo = fakeKommo({
    isAdmin: opts.isAdmin,
    subdomain: 'acme',
    clientSecret: opts.secret ?? CLIENT_SECRET,
    integrationId: 'int-acme',
    userId,
    userName: 'Ada Agent',
    settings: { api_url: opts.apiUrl ?? t.stack.url },
  });
  const Widget = createWidget({
    app: kommo.app,
    window,
    WebSocket: WebSocket as unknown as WebSocketConstructor,
    fetch: contactsFetch({ '5551234567': { id: 4242, name: 'Grace Caller' } }),
    bakedApiUrl: '',
  });
  // Kommo creates the object, then extends it with its base methods.
  const make = () =>
    Object.assign(new (Widget as unknown as new () => WidgetInstance)(), kommo.self) as WidgetInstance;
  return { kommo, make };
};

const socketsOf = async (userId: number) => {
  const ids = t.stack.gateway.connectionIds();
  const owners = await Promise.all(ids.map((id) => t.stack.state.getConnection(id)));
  return owners.filter((c) => c?.subdomain === 'acme' && c.userId === userId).length;
};

describe('widget lifecycle', () => {
  it('opens one socket in init and keeps it through render on every area change', async () => {
    const { make } = mount(101);
    const widget = make();
    expect(widget.callbacks.render?.()).toBe(true);
    expect(widget.callbacks.init?.()).toBe(true);
    expect(widget.callbacks.bind_actions?.()).toBe(true);
    await vi.waitFor(async () => expect(await socketsOf(101)).toBe(1), { timeout: 5000 });
    for (let area = 0; area < 5; area++) expect(widget.callbacks.render?.()).toBe(true);
    // Kommo creating a second widget object on the same page, and re-running init, opens nothing new.
    const again = make();
    again.callbacks.init?.();
    widget.callbacks.init?.();
    await new Promise((r) => setTimeout(r, 200));
    expect(await socketsOf(101)).toBe(1);
    widget.callbacks.destroy?.();
    await vi.waitFor(async () => expect(await socketsOf(101)).toBe(0));
  });

  it('pops one add_call per ringing call, linked to the matching contact, and guards reloads during the call', async () => {
    const { kommo, make } = mount(102);
    const widget = make();
    widget.callbacks.init?.();
    await vi.waitFor(async () => expect(await socketsOf(102)).toBe(1), { timeout: 5000 });
    const ringing = callEvent('call.ringing', { users: [102], from: '+1 (555) 123-4567' });
    await t.webhook(ringing);
    await t.webhook(callEvent('call.ringing', { id: ringing.call.id, users: [102] })); // a provider retry, new id
    await vi.waitFor(() => expect(kommo.recorded.calls).toHaveLength(1));
    expect(kommo.recorded.calls[0]).toMatchObject({
      from: '+1 (555) 123-4567',
      to: 'Ada Agent',
      text: 'Callbridge: incoming call',
      duration: 0,
      element: { id: 4242, type: 'contact' },
    });
    expect(kommo.recorded.callingStatus).toEqual([true]);
    await t.webhook(callEvent('call.answered', { id: ringing.call.id, users: [102] }));
    await t.webhook({
      ...callEvent('call.ended', { id: ringing.call.id, users: [102] }),
    });
    await vi.waitFor(() => expect(kommo.recorded.callingStatus).toEqual([true, false]));
    expect(kommo.recorded.calls).toHaveLength(1);
    widget.callbacks.destroy?.();
  });

  it('adds one missed-call entry for a call nobody answered', async () => {
    const { kommo, make } = mount(103);
    const widget = make();
    widget.callbacks.init?.();
    await vi.waitFor(async () => expect(await socketsOf(103)).toBe(1), { timeout: 5000 });
    const id = `missed-${Date.now()}`;
    await t.webhook(callEvent('call.ringing', { id, users: [103], from: '+15550001111' }));
    await t.webhook(callEvent('call.ended', { id, users: [103], from: '+15550001111' }));
    await vi.waitFor(() => expect(kommo.recorded.calls).toHaveLength(2));
    expect(kommo.recorded.calls[1]).toMatchObject({ text: 'Callbridge: missed call', from: '+15550001111' });
    expect(kommo.recorded.calls[1]?.element).toBeUndefined();
    widget.callbacks.destroy?.();
  });

  it('turns the reload guard off on destroy in the middle of a call', async () => {
    const { kommo, make } = mount(104);
    const widget = make();
    widget.callbacks.init?.();
    await vi.waitFor(async () => expect(await socketsOf(104)).toBe(1), { timeout: 5000 });
    await t.webhook(callEvent('call.answered', { users: [104] }));
    await vi.waitFor(() => expect(kommo.recorded.callingStatus).toEqual([true]));
    widget.callbacks.destroy?.();
    expect(kommo.recorded.callingStatus).toEqual([true, false]);
  });

  it('raises add_error once when the backend refuses the token, however often it retries', async () => {
    const { kommo, make } = mount(105, { secret: 'not-the-integration-secret-000' });
    const widget = make();
    widget.callbacks.init?.();
    await vi.waitFor(() => expect(kommo.recorded.errors).toHaveLength(1), { timeout: 5000 });
    // An agent is told what it means for them and whom to ask; no commands, no secrets.
    // (Escaped: Kommo renders add_error's text as markup.)
    expect(kommo.recorded.errors[0]?.text).toBe(
      'Calls can&#39;t reach you right now; ask your Kommo admin to check the Callbridge integration.',
    );
    expect(kommo.recorded.errors[0]?.header).toBe('Callbridge');
    await new Promise((r) => setTimeout(r, 2500));
    expect(kommo.recorded.ajax.length).toBeGreaterThan(1);
    expect(kommo.recorded.errors).toHaveLength(1);
    widget.callbacks.destroy?.();
  });

  it('tells an admin the technical reason for a refused token, and shows it in the settings', async () => {
    const { kommo, make } = mount(109, { secret: 'not-the-integration-secret-000', isAdmin: true });
    const widget = make();
    widget.callbacks.init?.();
    await vi.waitFor(() => expect(kommo.recorded.errors).toHaveLength(1), { timeout: 5000 });
    // Kommo renders add_error's text as markup, so the widget hands it over escaped.
    expect(kommo.recorded.errors[0]?.text).toContain('refused this Kommo account&#39;s token');
    expect(kommo.recorded.errors[0]?.text).toContain('secret key');
    const modal = document.createElement('div');
    widget.callbacks.settings?.([modal]);
    expect(modal.textContent).toContain("Problem: The Callbridge backend refused this Kommo account's token");
    widget.callbacks.destroy?.();
  });

  it('raises add_error when no backend URL is configured, and opens nothing', async () => {
    const { kommo, make } = mount(106, { apiUrl: '' });
    const widget = make();
    widget.callbacks.init?.();
    expect(kommo.recorded.errors).toHaveLength(1);
    expect(kommo.recorded.errors[0]?.text).toContain('ask your Kommo admin');
    expect(kommo.recorded.ajax).toHaveLength(0);
    widget.callbacks.destroy?.();
    const admin = mount(108, { apiUrl: '', isAdmin: true });
    const adminWidget = admin.make();
    adminWidget.callbacks.init?.();
    expect(admin.kommo.recorded.errors[0]?.text).toContain('backend URL is not set');
    adminWidget.callbacks.destroy?.();
  });

  it('sends the phones map to PUT /agents when an admin saves the settings', async () => {
    const account = newAccount(
      { subdomain: 'acme', integrationId: 'int-acme', clientSecret: CLIENT_SECRET },
      0,
    );
    const kommo = fakeKommo({ ...account, userId: 1, isAdmin: true, settings: { api_url: t.stack.url } });
    const Widget = createWidget({ app: kommo.app, window, bakedApiUrl: '' });
    const widget = Object.assign(
      new (Widget as unknown as new () => WidgetInstance)(),
      kommo.self,
    ) as WidgetInstance;
    const saved = await widget.callbacks.onSave?.({
      active: 'Y',
      fields: { api_url: t.stack.url, phones: JSON.stringify({ '7': '101', '8': '102' }) },
    });
    expect(saved).toBe(true);
    expect(await t.stack.state.getAgentMap('acme')).toEqual({ '7': '101', '8': '102' });
  });

  it('shows the connection state and the webhook URL in the settings modal', async () => {
    const { make } = mount(107);
    const widget = make();
    widget.callbacks.init?.();
    await vi.waitFor(async () => expect(await socketsOf(107)).toBe(1), { timeout: 5000 });
    const modal = document.createElement('div');
    widget.callbacks.settings?.([modal]);
    expect(modal.textContent).toContain('Connection: connected');
    expect(modal.textContent).toContain(`${t.stack.url}/webhooks/acme`);
    expect(modal.textContent).toContain(`Webhook URL for Zadarma: ${t.stack.url}/webhooks/acme/zadarma`);
    // The URL shown is the provider route: it answers, refusing only because acme has not connected Zadarma.
    const probe = await fetch(`${t.stack.url}/webhooks/acme/zadarma?zd_echo=x`);
    expect(probe.status).toBe(404);
    expect(await probe.text()).toContain('zadarma is not connected to account');
    widget.callbacks.destroy?.();
  });
});
