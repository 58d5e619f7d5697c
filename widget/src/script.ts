/**
 * The widget as Kommo loads it: `define(['jquery'], factory)` returning the widget constructor. This is the
 * only file that knows about AMD and Kommo's callback names; the build wraps it (see widget/build.ts).
 */
import type { KommoApp, KommoSelf } from './kommo';
import { CallbridgeRuntime, type RuntimeDeps } from './runtime';

declare const __CALLBRIDGE_API_URL__: string;
declare const __CALLBRIDGE_VERSION__: string;

type Overrides = Partial<Omit<RuntimeDeps, 'self'>>;

/** The widget constructor factory; `overrides` exist for tests (a fake APP, timers, WebSocket). */
export const createWidget = (overrides: Overrides = {}) => {
  // Module scope is per page: requirejs loads script.js once, so every widget object Kommo creates on this
  // page shares one runtime and therefore one socket.
  let runtime: CallbridgeRuntime | undefined;

  return function CallbridgeWidget(this: KommoSelf & { callbacks: Record<string, unknown> }) {
    const get = (): CallbridgeRuntime => {
      runtime ??= new CallbridgeRuntime({
        self: this,
        app: (overrides.app ?? (globalThis as { APP?: KommoApp }).APP ?? {}) as KommoApp,
        window: overrides.window ?? window,
        fetch: overrides.fetch ?? ((url, init) => window.fetch(url, init)),
        bakedApiUrl:
          overrides.bakedApiUrl ?? (typeof __CALLBRIDGE_API_URL__ === 'string' ? __CALLBRIDGE_API_URL__ : ''),
        version:
          overrides.version ?? (typeof __CALLBRIDGE_VERSION__ === 'string' ? __CALLBRIDGE_VERSION__ : 'dev'),
        WebSocket: overrides.WebSocket,
        timers: overrides.timers,
        random: overrides.random,
        socketOptions: overrides.socketOptions,
      });
      return runtime;
    };

    this.callbacks = {
      // Runs on every area change for an init_once widget: nothing to draw, so nothing to redo.
      render: () => true,
      init: () => {
        get().start();
        return true;
      },
      bind_actions: () => true,
      settings: ($modal: unknown) => {
        renderSettings(get(), $modal);
        return true;
      },
      onSave: (data: { active?: string; fields?: Record<string, unknown> }) => {
        if (data?.active === 'N') return true;
        // false tells Kommo the save did not go through (the widget has said why with add_error).
        return get().saveAgents(data?.fields ?? this.get_settings());
      },
      destroy: () => {
        runtime?.stop();
        runtime = undefined;
        return true;
      },
    };
    return this;
  };
};

const renderSettings = (runtime: CallbridgeRuntime, $modal: unknown) => {
  const root =
    ($modal as ArrayLike<HTMLElement> | undefined)?.[0] ??
    document.querySelector('.widget-settings__modal') ??
    document.body;
  root.querySelector('.callbridge-settings')?.remove();
  const box = document.createElement('div');
  box.className = 'callbridge-settings';
  box.style.cssText =
    'margin:12px 0;padding:10px 12px;border:1px solid #d4d5d8;border-radius:4px;font-size:13px';
  const state = runtime.connectionStatus;
  const label =
    state === 'open'
      ? runtime.t('settings.state_open')
      : state === 'idle' && !runtime.apiUrl()
        ? runtime.t('settings.state_off')
        : state === 'connecting'
          ? runtime.t('settings.state_connecting')
          : runtime.t('settings.state_down');
  const line = (caption: string, value: string) => {
    const row = document.createElement('div');
    const b = document.createElement('b');
    b.textContent = `${caption}: `;
    const code = document.createElement('code');
    code.textContent = value;
    code.style.userSelect = 'all';
    row.append(b, code);
    box.append(row);
  };
  line(runtime.t('settings.status'), label);
  // The technical reason behind what agents were told ("ask your Kommo admin"): admins read it here.
  if (runtime.problem) line(runtime.t('settings.problem'), runtime.problem);
  const webhook = runtime.webhookUrl();
  if (webhook) line(runtime.t('settings.webhook_url'), webhook);
  for (const { provider, url } of runtime.providerWebhookUrls()) {
    line(
      `${runtime.t('settings.provider_webhook_url')} ${provider[0]?.toUpperCase()}${provider.slice(1)}`,
      url,
    );
  }
  if (runtime.isAdmin) {
    // The secret is fetched only when asked for, and never kept in the page beyond this box.
    const secretRow = document.createElement('div');
    const buttons = document.createElement('div');
    buttons.style.marginTop = '6px';
    const show = (text: string) => {
      secretRow.replaceChildren();
      const b = document.createElement('b');
      b.textContent = `${runtime.t('settings.webhook_secret')}: `;
      const code = document.createElement('code');
      code.className = 'callbridge-secret';
      code.textContent = text;
      code.style.userSelect = 'all';
      secretRow.append(b, code);
    };
    for (const [key, action] of [
      ['settings.show_secret', 'reveal'],
      ['settings.rotate_secret', 'rotate'],
    ] as const) {
      const button = document.createElement('button');
      button.type = 'button';
      button.className = `callbridge-${action}`;
      button.textContent = runtime.t(key);
      button.style.marginRight = '6px';
      button.addEventListener('click', async () => {
        const result = await runtime.webhookSecret(action);
        if (result?.secret)
          show(action === 'rotate' ? `${result.secret} — ${runtime.t('settings.rotated')}` : result.secret);
      });
      buttons.append(button);
    }
    box.append(secretRow, buttons);
    box.append(crmBox(runtime));
  }
  root.append(box);
};

/** Admins' "Calls in Kommo" block: the account's CRM settings, and a line about calls that could not be logged. */
const crmBox = (runtime: CallbridgeRuntime): HTMLElement => {
  const crm = document.createElement('div');
  crm.className = 'callbridge-crm';
  crm.style.marginTop = '10px';
  const title = document.createElement('b');
  title.textContent = runtime.t('settings.crm');
  crm.append(title);
  void runtime.crmSettings().then((view) => {
    if (!view) {
      const note = document.createElement('div');
      note.textContent = runtime.t('settings.crm_unavailable');
      crm.append(note);
      return;
    }
    if (view.failures) {
      const warn = document.createElement('div');
      warn.className = 'callbridge-crm-failures';
      warn.style.color = '#c0392b';
      warn.textContent = view.failures;
      crm.append(warn);
    }
    const inputs: Record<string, HTMLInputElement> = {};
    const field = (key: string, label: string, type: 'checkbox' | 'number' | 'text') => {
      const row = document.createElement('label');
      row.style.display = 'block';
      const input = document.createElement('input');
      input.type = type;
      input.name = key;
      const value = view.settings[key];
      if (type === 'checkbox') input.checked = value === true;
      else input.value = value === undefined || value === null ? '' : String(value);
      row.append(input, document.createTextNode(` ${runtime.t(label)}`));
      inputs[key] = input;
      crm.append(row);
    };
    field('leads', 'settings.crm_leads', 'checkbox');
    field('tasks', 'settings.crm_tasks', 'checkbox');
    field('completeTasks', 'settings.crm_complete_tasks', 'checkbox');
    field('bell', 'settings.crm_bell', 'checkbox');
    field('taskDelayMinutes', 'settings.crm_task_delay', 'number');
    field('dutyUserId', 'settings.crm_duty_user', 'number');
    field('sourceName', 'settings.crm_source', 'text');
    const save = document.createElement('button');
    save.type = 'button';
    save.className = 'callbridge-crm-save';
    save.textContent = runtime.t('settings.crm_save');
    const saved = document.createElement('span');
    save.addEventListener('click', async () => {
      const duty = inputs.dutyUserId?.value.trim() ?? '';
      const result = await runtime.crmSettings({
        leads: inputs.leads?.checked === true,
        tasks: inputs.tasks?.checked === true,
        completeTasks: inputs.completeTasks?.checked === true,
        bell: inputs.bell?.checked === true,
        taskDelayMinutes: Number(inputs.taskDelayMinutes?.value ?? 15),
        dutyUserId: duty === '' ? null : Number(duty),
        sourceName: inputs.sourceName?.value ?? '',
      });
      saved.textContent = result ? ` ${runtime.t('settings.crm_saved')}` : '';
    });
    crm.append(save, saved);
  });
  return crm;
};

export default createWidget;
