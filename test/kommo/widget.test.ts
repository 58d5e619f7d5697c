// @vitest-environment happy-dom
/**
 * The widget with an installation from Kommo: one add_error for admins when Callbridge needs
 * re-authorization (however often the socket reconnects), none for agents; admins reveal and rotate the
 * webhook secret from the settings; onSave makes the backend re-read Kommo.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { WebSocket } from 'ws';
import type { KommoSelf } from '../../widget/src/kommo';
import { createWidget } from '../../widget/src/script';
import type { WebSocketConstructor } from '../../widget/src/socket';
import { fakeKommo } from '../helpers/kommo';
import { CLIENT_ID, CLIENT_SECRET, type KommoWorld, startKommoWorld } from '../helpers/kommo-world';
import { nodeFetch } from '../helpers/node-fetch';

type WidgetInstance = KommoSelf & { callbacks: Record<string, (...args: unknown[]) => unknown> };

let world: KommoWorld;
beforeAll(async () => {
  world = await startKommoWorld({ fetch: nodeFetch });
  await world.install();
});
afterAll(() => world.stop());

const mount = (userId: number, isAdmin: boolean) => {
  const kommo = fakeKommo({
    subdomain: 'acme',
    clientSecret: CLIENT_SECRET,
    integrationId: CLIENT_ID,
    userId,
    isAdmin,
    settings: { api_url: world.stack.url },
  });
  const Widget = createWidget({
    app: kommo.app,
    window,
    WebSocket: WebSocket as unknown as WebSocketConstructor,
    fetch: async () => new Response(null, { status: 204 }),
    bakedApiUrl: '',
    // One tab on its own: no leader election to wait for.
    locks: null,
    BroadcastChannel: null,
  } as Parameters<typeof createWidget>[0]);
  const widget = Object.assign(
    new (Widget as unknown as new () => WidgetInstance)(),
    kommo.self,
  ) as WidgetInstance;
  return { kommo, widget };
};

const socketsOf = async (userId: number) => {
  const owners = await Promise.all(
    world.stack.gateway.connectionIds().map((id) => world.stack.state.getConnection(id)),
  );
  return owners.filter((c) => c?.userId === userId).length;
};

describe('widget with a Kommo installation', () => {
  it('admins reveal and rotate the webhook secret in the settings; agents see no such buttons', async () => {
    const admin = mount(201, true);
    admin.widget.callbacks.init?.();
    await vi.waitFor(async () => expect(await socketsOf(201)).toBe(1));
    const modal = document.createElement('div');
    admin.widget.callbacks.settings?.([modal]);
    const secret = (await world.stack.accounts.getAccount('acme'))?.webhookSecrets[0]?.secret;
    (modal.querySelector('.callbridge-reveal') as HTMLButtonElement).click();
    await vi.waitFor(() => expect(modal.querySelector('.callbridge-secret')?.textContent).toBe(secret));
    (modal.querySelector('.callbridge-rotate') as HTMLButtonElement).click();
    await vi.waitFor(async () =>
      expect((await world.stack.accounts.getAccount('acme'))?.webhookSecrets).toHaveLength(2),
    );
    const rotated = (await world.stack.accounts.getAccount('acme'))?.webhookSecrets[0]?.secret ?? '';
    await vi.waitFor(() => expect(modal.querySelector('.callbridge-secret')?.textContent).toContain(rotated));
    admin.widget.callbacks.destroy?.();

    const agent = mount(202, false);
    agent.widget.callbacks.init?.();
    await vi.waitFor(async () => expect(await socketsOf(202)).toBe(1));
    const agentModal = document.createElement('div');
    agent.widget.callbacks.settings?.([agentModal]);
    expect(agentModal.querySelector('.callbridge-reveal')).toBeNull();
    agent.widget.callbacks.destroy?.();
  });

  it('onSave makes the backend read the extensions from Kommo, not from the browser', async () => {
    world.kommo.setWidgetSettings(30_001, { phones: { '201': '301', '202': '302' } });
    const admin = mount(201, true);
    const saved = await admin.widget.callbacks.onSave?.({
      active: 'Y',
      fields: { api_url: world.stack.url, phones: JSON.stringify({ '201': '999' }) },
    });
    expect(saved).toBe(true);
    expect(await world.stack.state.getAgentMap('acme')).toEqual({ '201': '301', '202': '302' });
  });

  it('tells admins once that Callbridge needs re-authorization, across reconnects; agents not at all', async () => {
    world.kommo.revokeAccount(30_001);
    // The next call to Kommo finds out (a save, the scheduled refresh or settings read).
    await world.stack.kommo.deps.client.get(30_001, '/api/v4/account').catch(() => undefined);
    expect(await world.stack.accounts.getAccount('acme')).toMatchObject({ status: 'needs_reauth' });

    const admin = mount(201, true);
    const agent = mount(202, false);
    admin.widget.callbacks.init?.();
    agent.widget.callbacks.init?.();
    await vi.waitFor(async () => expect(await socketsOf(201)).toBe(1));
    await vi.waitFor(async () => expect(await socketsOf(202)).toBe(1));
    await vi.waitFor(() => expect(admin.kommo.recorded.errors).toHaveLength(1));
    expect(admin.kommo.recorded.errors[0]?.text).toContain('install it again');

    // API Gateway drops the sockets (deploy, 2-hour limit): the widgets reconnect with fresh tickets.
    for (const id of world.stack.gateway.connectionIds()) {
      await nodeFetch(`${world.stack.gateway.managementEndpoint}/@connections/${id}`, { method: 'DELETE' });
    }
    const tickets = () => admin.kommo.recorded.ajax.filter((a) => a.url.endsWith('/tickets')).length;
    await vi.waitFor(() => expect(tickets()).toBeGreaterThanOrEqual(2), { timeout: 15_000 });
    await vi.waitFor(async () => expect(await socketsOf(201)).toBe(1), { timeout: 15_000 });
    expect(admin.kommo.recorded.errors).toHaveLength(1);
    expect(agent.kommo.recorded.errors).toHaveLength(0);
    admin.widget.callbacks.destroy?.();
    agent.widget.callbacks.destroy?.();
  }, 30_000);

  it('when Kommo turns Callbridge off while the widget stays loaded, admins are told once; agents not', async () => {
    await world.install();
    expect(await world.kommo.disableIntegration(30_001)).toBe(200);
    // Tabs of one agent share error claims for 5 minutes; this is a new page, not another tab.
    window.localStorage.clear();
    const admin = mount(201, true);
    const agent = mount(202, false);
    admin.widget.callbacks.init?.();
    agent.widget.callbacks.init?.();
    await vi.waitFor(() => expect(admin.kommo.recorded.errors).toHaveLength(1), { timeout: 10_000 });
    expect(admin.kommo.recorded.errors[0]?.text).toContain('install it again');
    // The widgets keep trying quietly (a re-installation brings them back without a reload).
    await vi.waitFor(
      () =>
        expect(
          admin.kommo.recorded.ajax.filter((a) => a.url.endsWith('/tickets')).length,
        ).toBeGreaterThanOrEqual(2),
      { timeout: 15_000 },
    );
    expect(admin.kommo.recorded.errors).toHaveLength(1);
    expect(agent.kommo.recorded.errors).toHaveLength(0);
    await world.install();
    await vi.waitFor(async () => expect(await socketsOf(202)).toBe(1), { timeout: 20_000 });
    admin.widget.callbacks.destroy?.();
    agent.widget.callbacks.destroy?.();
  }, 60_000);
});
