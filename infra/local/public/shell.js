/*
 * A small stand-in for Kommo's page: requirejs with jQuery, the APP object a widget talks to, and the
 * widget lifecycle as Kommo drives it for an init_once widget (render on every area; init and bind_actions
 * once; settings in the settings area). Notifications become visible toasts.
 */
(async () => {
  const $id = (id) => document.getElementById(id);
  const config = await (await fetch('/demo/config')).json();
  const params = new URLSearchParams(location.search);
  const user = config.users.find((u) => String(u.id) === params.get('user')) ?? config.users[0];

  const state = { calling: false, callingHistory: [], toasts: [], area: undefined, lastCallId: undefined };
  // The widget's saved settings, as Kommo keeps them (get_settings); the users field holds user id → extension.
  const settings = {
    widget_code: 'callbridge',
    widget_active: 'Y',
    api_url: config.apiUrl,
    phones: { ...config.agents },
  };
  window.__demo = state;

  // --- the APP object widgets use ---
  const contactName = (id) => config.contacts.find((c) => c.id === id)?.name;
  const toast = (kind, lines) => {
    const box = document.createElement('div');
    box.className = `toast ${kind}`;
    const head = document.createElement('div');
    head.className = 'head';
    // Kommo's notification centre puts what a widget passes into its templates as markup, unescaped: so does
    // this stand-in, and the widget must escape every field it hands over. The demo's own rows are text.
    head.innerHTML = lines.head;
    box.append(head);
    for (const [label, value, href, markup] of lines.rows) {
      if (value === undefined || value === '') continue;
      const row = document.createElement('div');
      row.className = 'row';
      if (label) {
        const b = document.createElement('b');
        b.textContent = `${label}: `;
        row.append(b);
      }
      const span = document.createElement('span');
      if (markup && href) span.innerHTML = `<a href="${href}">${value}</a>`;
      else if (markup) span.innerHTML = String(value);
      else if (href) {
        const a = document.createElement('a');
        a.href = href;
        a.textContent = value;
        span.append(a);
      } else span.textContent = String(value);
      row.append(span);
      box.append(row);
    }
    $id('toasts').prepend(box);
  };
  window.APP = {
    notifications: {
      add_call(p) {
        state.toasts.push({ kind: 'call', ...p });
        const contact = p.element ? (contactName(p.element.id) ?? `#${p.element.id}`) : undefined;
        toast('call', {
          head: p.text,
          rows: [
            ['From', p.from, undefined, true],
            ['To', p.to, undefined, true],
            ['Contact', contact, p.element ? `#contact-${p.element.id}` : undefined],
            ['Duration', p.duration ? `${p.duration} s` : undefined],
            ['Recording', p.link ? 'listen' : undefined, p.link, true],
          ],
        });
      },
      add_error(p) {
        state.toasts.push({ kind: 'error', ...p });
        toast('error', { head: p.header, rows: [['', p.text, undefined, true]] });
      },
    },
    sdk: {
      setCallingStatus(value) {
        state.calling = value;
        state.callingHistory.push(value);
        $id('calling-status').textContent = String(value);
        return `calling_status - ${value}`;
      },
      getCallingStatus: () => state.calling,
    },
    constant: (name) =>
      name === 'user' ? { id: user.id, name: user.name } : name === 'account' ? config.account : undefined,
  };

  // --- chrome: user switcher, account, webhook URL ---
  for (const u of config.users) {
    const ext = config.agents[u.id];
    const option = new Option(
      `${u.name} · ${ext ? `ext ${ext}` : 'no extension'}${u.admin ? ' · admin' : ''}`,
      String(u.id),
    );
    option.selected = u.id === user.id;
    $id('user-switch').append(option);
  }
  $id('user-switch').addEventListener('change', (e) => {
    location.search = `?user=${e.target.value}`;
  });
  $id('account').textContent = `${config.account.subdomain}.kommo.com`;
  $id('webhook-url').textContent = config.webhookUrl;

  // --- the widget settings modal, as Kommo draws it from the manifest's `settings` ---
  const manifest = await (await fetch('/widget/manifest.json')).json();
  const renderSettingsForm = (modal, widget) => {
    const form = document.createElement('form');
    form.className = 'kommo-settings';
    if (!user.admin) {
      const note = document.createElement('p');
      note.className = 'hint';
      note.textContent = 'Only account admins can change widget settings in Kommo.';
      modal.append(note);
      return;
    }
    for (const [name, field] of Object.entries(manifest.settings ?? {})) {
      const box = document.createElement('fieldset');
      box.dataset.field = name;
      const legend = document.createElement('legend');
      legend.textContent = widget.i18n(field.name);
      box.append(legend);
      if (field.type === 'users') {
        // Kommo's `users` field: one row per user of the account, each with a text box.
        for (const u of config.users) {
          const row = document.createElement('label');
          row.className = 'user-row';
          const who = document.createElement('span');
          who.textContent = u.name;
          const input = document.createElement('input');
          input.name = `${name}[${u.id}]`;
          input.dataset.user = String(u.id);
          input.value = settings.phones[u.id] ?? '';
          input.placeholder = 'extension';
          row.append(who, input);
          box.append(row);
        }
      } else {
        const input = document.createElement('input');
        input.name = name;
        input.value = settings[name] ?? '';
        input.className = 'wide';
        box.append(input);
      }
      form.append(box);
    }
    const save = document.createElement('button');
    save.type = 'submit';
    save.id = 'settings-save';
    save.textContent = 'Save';
    const result = document.createElement('span');
    result.id = 'settings-result';
    result.setAttribute('role', 'status');
    form.append(save, result);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const phones = {};
      for (const input of form.querySelectorAll('input[data-user]')) {
        if (input.value.trim()) phones[input.dataset.user] = input.value.trim();
      }
      const fields = { phones, api_url: form.querySelector('input[name="api_url"]')?.value ?? '' };
      save.disabled = true;
      result.textContent = 'Saving…';
      // Kommo stores the settings, then calls the widget's onSave with them; the backend re-reads an
      // installed account's extensions from Kommo, so Kommo's copy must be the new one first.
      await fetch('/demo/kommo/settings', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ phones }),
      });
      let ok = false;
      try {
        ok = (await widget.callbacks.onSave({ active: 'Y', fields })) === true;
      } catch {
        ok = false;
      }
      save.disabled = false;
      if (ok) {
        Object.assign(settings, fields);
        result.textContent = 'Saved';
        result.className = 'ok';
      } else {
        result.textContent = 'Not saved (see the notification)';
        result.className = 'failed';
      }
    });
    modal.append(form);
  };

  // --- the widget, loaded the way Kommo loads it ---
  requirejs.config({ paths: { jquery: '/vendor/jquery' } });
  const langs = await (await fetch('/widget/i18n/en.json')).json();
  require(['jquery', `/widget/script.js?v=${config.version}`], ($, Widget) => {
    const widget = new Widget();
    // Kommo extends the widget object with its base methods.
    Object.assign(widget, {
      ns: '.widget:callbridge',
      langs,
      i18n: (key) => key.split('.').reduce((node, part) => node?.[part], langs) ?? key,
      get_settings: () => ({ ...settings, phones: JSON.stringify(settings.phones) }),
      system: () => ({ area: state.area, subdomain: config.account.subdomain, amouser_id: user.id }),
      $authorizedAjax(options) {
        const deferred = $.Deferred();
        $.getJSON(`/demo/token?user=${user.id}`).then(({ token }) => {
          $.ajax({ ...options, headers: { ...options.headers, 'X-Auth-Token': token } }).then(
            deferred.resolve,
            deferred.reject,
          );
        }, deferred.reject);
        return deferred.promise();
      },
    });

    let initialised = false;
    const goTo = (area) => {
      state.area = area.id;
      $id('area-title').textContent = area.title;
      $id('area-hint').textContent = area.hint;
      $id('current-area').textContent = area.id;
      for (const b of $id('areas').children) {
        if (b.dataset.area === area.id) b.setAttribute('aria-current', 'page');
        else b.removeAttribute('aria-current');
      }
      // Kommo: render on every area; init and bind_actions only the first time for an init_once widget.
      if (widget.callbacks.render() && !initialised) {
        initialised = true;
        widget.callbacks.init();
        widget.callbacks.bind_actions();
      }
      $id('contact-cards').hidden = area.id !== 'contact-card';
      const modal = $id('settings-modal');
      modal.hidden = area.id !== 'settings';
      modal.replaceChildren();
      if (area.id === 'settings') {
        renderSettingsForm(modal, widget);
        widget.callbacks.settings($(modal));
      }
    };
    for (const area of config.areas) {
      const button = document.createElement('button');
      button.textContent = area.title;
      button.dataset.area = area.id;
      button.addEventListener('click', () => goTo(area));
      $id('areas').append(button);
    }
    window.__demo.goTo = (id) => goTo(config.areas.find((a) => a.id === id));
    goTo(config.areas[0]);
    window.__demo.ready = true;
  });

  // --- the phone system buttons ---
  for (const button of document.querySelectorAll('[data-call]')) {
    button.addEventListener('click', async () => {
      const res = await fetch('/demo/call', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ kind: button.dataset.call, user: user.id, callId: state.lastCallId }),
      });
      const body = await res.json();
      if (body.callId) state.lastCallId = body.callId;
      // What npm run call warns about: a call that reached nobody.
      const unmatched = body.response?.unmatchedExtensions;
      const note =
        body.response?.users === 0 && unmatched?.length
          ? `\n  nobody was rung: extension ${unmatched.join(', ')} is not mapped to a user (Widget settings)`
          : '';
      $id('call-log').textContent =
        `${new Date().toLocaleTimeString()} ${button.textContent} → ${body.status} ${JSON.stringify(body.response)}${note}\n${$id('call-log').textContent}`;
    });
  }

  // --- Kommo's contact cards (the emulator's): what the calls left there ---
  const CALL_STATUS = {
    1: 'left a message',
    2: 'call back later',
    3: 'not available',
    4: 'conversation',
    5: 'wrong number',
    6: 'no answer',
    7: 'busy',
  };
  const userName = (id) => config.users.find((u) => u.id === id)?.name ?? (id ? `user ${id}` : '');
  const time = (ms) => new Date(ms).toLocaleTimeString();
  // Every value goes in as text (never markup): a caller id or a lead name is the caller's to choose.
  const el = (tag, className, text) => {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  };
  const httpsLink = (value) => {
    try {
      return new URL(value).protocol === 'https:' ? value : undefined;
    } catch {
      return undefined;
    }
  };
  const renderCards = (cards) => {
    const box = $id('contact-cards');
    if (!cards.length) {
      box.replaceChildren(
        el('p', 'hint', 'Nothing in Kommo yet: install from Kommo (below), then ring a call and end it.'),
      );
      return;
    }
    box.replaceChildren(
      ...cards.map((card) => {
        const article = el('article', 'contact-card');
        article.dataset.contact = String(card.contactId);
        const head = el('header');
        head.append(el('h3', '', card.name), el('span', 'phones', card.phones.join(', ')));
        article.append(head);
        if (card.leads.length) {
          const leads = el('ul', 'card-leads');
          for (const lead of card.leads) {
            const item = el(
              'li',
              'card-lead',
              `Lead: ${lead.name} · ${lead.status === 'incoming' ? 'Incoming leads (Unsorted)' : 'open'}${lead.source ? ` · from ${lead.source}` : ''}`,
            );
            item.dataset.status = lead.status;
            leads.append(item);
          }
          article.append(leads);
        }
        const timeline = el('ol', 'card-timeline');
        for (const entry of card.timeline) {
          if (entry.kind === 'call') {
            const item = el(
              'li',
              'card-call',
              `${time(entry.at)} · ${entry.direction === 'outbound' ? 'Outgoing' : 'Incoming'} call · ${entry.duration} s` +
                `${entry.status ? ` · ${CALL_STATUS[entry.status] ?? entry.status}` : ''}` +
                `${entry.responsibleUserId ? ` · ${userName(entry.responsibleUserId)}` : ''}`,
            );
            item.dataset.uniq = entry.uniq;
            const link = httpsLink(entry.link);
            if (link) {
              const a = el('a', 'recording', 'recording');
              a.href = link;
              a.target = '_blank';
              a.rel = 'noopener noreferrer';
              item.append(' · ', a);
            }
            timeline.append(item);
          } else {
            const item = el(
              'li',
              'card-task',
              `${time(entry.at)} · Task: ${entry.text} · due ${time(entry.due * 1000)}` +
                `${entry.responsibleUserId ? ` · for ${userName(entry.responsibleUserId)}` : ''}${entry.done ? ' · done' : ''}`,
            );
            item.dataset.done = String(entry.done);
            timeline.append(item);
          }
        }
        article.append(timeline);
        return article;
      }),
    );
  };

  renderCards([]);

  // --- the Kommo installation (OAuth against the emulator) ---
  const showKommo = async () => {
    try {
      const kommo = await (await fetch('/demo/kommo')).json();
      const i = kommo.installation;
      $id('kommo-state').textContent = i
        ? `Kommo account ${i.accountId}: installation ${i.status}, account ${kommo.accountStatus}\n` +
          `access token expires ${i.tokenExpiresAt ?? '–'}; settings synced ${i.settingsSyncedAt ?? 'never'}\n` +
          `extensions from Kommo: ${JSON.stringify(kommo.agents)}` +
          (kommo.crm
            ? `\ncalls in Kommo: see the "Contact card" area; bells in Kommo's notification centre: ${kommo.crm.bells}`
            : '')
        : `Not installed from Kommo yet (account: ${kommo.accountStatus}).`;
      renderCards(kommo.crm?.cards ?? []);
    } catch {
      $id('kommo-state').textContent = '?';
    }
  };
  if (config.kommo) {
    $id('kommo-consent').addEventListener('click', () => {
      // Kommo's site button opens its consent window as a popup (mode=popup).
      window.open(config.kommo.consentUrl, 'kommo-oauth', 'width=520,height=560');
    });
    for (const [id, path] of [
      ['kommo-widget-install', '/demo/kommo/install'],
      ['kommo-disable', '/demo/kommo/disable'],
    ]) {
      $id(id).addEventListener('click', async () => {
        await fetch(path, { method: 'POST' });
        await showKommo();
      });
    }
    setInterval(showKommo, 2000);
    showKommo();
  } else {
    $id('kommo-install').hidden = true;
  }

  // --- how many sockets the backend holds for this agent ---
  const poll = async () => {
    // The widget marks whether this tab holds the agent's socket (leader) or listens (follower).
    $id('tab-role').textContent = document.documentElement.dataset.callbridgeRole ?? '–';
    try {
      const { count } = await (await fetch(`/demo/sockets?user=${user.id}`)).json();
      $id('socket-count').textContent = String(count);
    } catch {
      $id('socket-count').textContent = '?';
    }
  };
  setInterval(poll, 1000);
  poll();
})();
