// @vitest-environment happy-dom
/**
 * The widget's settings for admins: what calls do in Kommo, read from and saved to /settings/crm, with the
 * line about calls that could not be logged.
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
    locks: null,
    BroadcastChannel: null,
  } as Parameters<typeof createWidget>[0]);
  return Object.assign(new (Widget as unknown as new () => WidgetInstance)(), kommo.self) as WidgetInstance;
};

const socketsOf = async (userId: number) => {
  const owners = await Promise.all(
    world.stack.gateway.connectionIds().map((id) => world.stack.state.getConnection(id)),
  );
  return owners.filter((c) => c?.userId === userId).length;
};

describe('CRM settings in the widget', () => {
  it('admins see the failure line, change the settings and save them; agents see no such block', async () => {
    await world.stack.crm.ledger.recordFailure(30_001, 'c-1', 'token revoked', Date.now());
    await world.stack.crm.ledger.recordFailure(30_001, 'c-2', 'token revoked', Date.now());
    const admin = mount(201, true);
    admin.callbacks.init?.();
    await vi.waitFor(async () => expect(await socketsOf(201)).toBe(1));
    const modal = document.createElement('div');
    admin.callbacks.settings?.([modal]);
    await vi.waitFor(() =>
      expect(modal.querySelector('.callbridge-crm-failures')?.textContent).toBe(
        '2 calls could not be logged: token revoked',
      ),
    );
    const input = (name: string) =>
      modal.querySelector(`.callbridge-crm input[name="${name}"]`) as HTMLInputElement;
    expect(input('bell').checked).toBe(true);
    expect(input('taskDelayMinutes').value).toBe('15');
    input('bell').checked = false;
    input('taskDelayMinutes').value = '25';
    input('dutyUserId').value = '202';
    (modal.querySelector('.callbridge-crm-save') as HTMLButtonElement).click();
    await vi.waitFor(async () =>
      expect(await world.stack.crm.ledger.getSettings(30_001)).toMatchObject({
        bell: false,
        taskDelayMinutes: 25,
        dutyUserId: 202,
        leads: true,
      }),
    );
    admin.callbacks.destroy?.();

    const agent = mount(202, false);
    agent.callbacks.init?.();
    await vi.waitFor(async () => expect(await socketsOf(202)).toBe(1));
    const agentModal = document.createElement('div');
    agent.callbacks.settings?.([agentModal]);
    expect(agentModal.querySelector('.callbridge-crm')).toBeNull();
    agent.callbacks.destroy?.();
  });
});
