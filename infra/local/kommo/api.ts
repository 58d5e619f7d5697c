/**
 * The Kommo REST API parts Callbridge uses, as the emulator answers them: account, users, the widget's own
 * settings, contacts search, and the writes the next issue makes (calls, incoming leads, tasks, events).
 * Rules are cited by section of kommo-server.md.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type AccessGrant,
  digitsOf,
  type EmulatedAccount,
  type EmulatedIntegration,
  type WrittenRecord,
} from './model';
import { sendHal } from './problems';
import {
  isInt,
  type Json,
  paging,
  parseJson,
  RequestError,
  readText,
  requireArray,
  validationError,
} from './request';

export interface ApiContext {
  url(): string;
  integration: EmulatedIntegration;
  written: {
    calls: WrittenRecord[];
    unsorted: WrittenRecord[];
    tasks: WrittenRecord[];
    events: WrittenRecord[];
  };
  nextId(): number;
  now(): number;
  account(id: number): EmulatedAccount;
}

export class KommoApi {
  constructor(private readonly ctx: ApiContext) {}

  async handle(req: IncomingMessage, res: ServerResponse, url: URL, grant: AccessGrant) {
    const account = this.ctx.account(grant.accountId);
    const method = req.method ?? 'GET';
    const path = url.pathname;
    const contextHeader = req.headers['x-context-user-id'];
    let actor = account.users.find((u) => u.id === grant.userId);
    if (contextHeader !== undefined) {
      // §7.3: only with an admin's token; a missing or free user is refused.
      const ctx = account.users.find((u) => String(u.id) === contextHeader);
      if (!actor?.isAdmin || !ctx || ctx.isFree || ctx.isActive === false)
        throw new RequestError(403, 'Access denied');
      actor = ctx;
    }
    const userId = actor?.id ?? grant.userId;
    const contextUserId = contextHeader !== undefined ? userId : undefined;
    const base = `${this.ctx.url()}`;

    if (method === 'GET' && path === '/api/v4/account') {
      const withs = new Set((url.searchParams.get('with') ?? '').split(',').filter(Boolean));
      const embedded: Json = {};
      if (withs.has('task_types'))
        embedded.task_types = [
          { id: 1, name: 'Follow-up', color: null, icon_id: null, code: 'FOLLOW_UP' },
          { id: 2, name: 'Meeting', color: null, icon_id: null, code: 'MEETING' },
        ];
      if (withs.has('users_groups')) embedded.users_groups = [{ id: 0, name: 'Main', uuid: null }];
      return sendHal(res, 200, {
        id: account.id,
        name: account.name ?? account.subdomain,
        subdomain: account.subdomain,
        created_at: 1_600_000_000,
        created_by: account.users[0]?.id ?? 0,
        updated_at: 1_600_000_000,
        updated_by: account.users[0]?.id ?? 0,
        current_user_id: userId,
        country: 'US',
        currency: 'USD',
        currency_symbol: '$',
        customers_mode: 'disabled',
        is_unsorted_on: true,
        mobile_feature_version: 0,
        is_loss_reason_enabled: true,
        is_helpbot_enabled: false,
        is_technical_account: false,
        contact_name_display_order: 1,
        ...(withs.has('amojo_id') ? { amojo_id: `amojo-${account.id}` } : {}),
        ...(withs.has('uuid') ? { uuid: `uuid-${account.id}` } : {}),
        ...(withs.has('version') ? { version: 1 } : {}),
        _links: { self: { href: `${base}/api/v4/account` } },
        ...(Object.keys(embedded).length ? { _embedded: embedded } : {}),
      });
    }
    if (method === 'GET' && path === '/api/v4/users') {
      if (!actor?.isAdmin) throw new RequestError(403, 'Insufficient rights');
      const { page, limit } = paging(url);
      const slice = account.users.slice((page - 1) * limit, page * limit);
      if (slice.length === 0) return void res.writeHead(204).end();
      return sendHal(res, 200, {
        _total_items: account.users.length,
        _page: page,
        _page_count: Math.ceil(account.users.length / limit),
        _links: {
          self: { href: `${base}/api/v4/users?page=${page}&limit=${limit}` },
          ...(page * limit < account.users.length
            ? { next: { href: `${base}/api/v4/users?page=${page + 1}&limit=${limit}` } }
            : {}),
        },
        _embedded: {
          users: slice.map((u) => ({
            id: u.id,
            name: u.name,
            email: u.email ?? `user${u.id}@example.com`,
            lang: 'en',
            rights: {
              leads: { view: 'A', edit: 'A', add: 'A', delete: 'A', export: 'A' },
              contacts: { view: 'A', edit: 'A', add: 'A', delete: 'A', export: 'A' },
              companies: { view: 'A', edit: 'A', add: 'A', delete: 'A', export: 'A' },
              tasks: { edit: 'A', delete: 'A' },
              mail_access: true,
              catalog_access: true,
              status_rights: [],
              is_admin: u.isAdmin === true,
              is_free: u.isFree === true,
              is_active: u.isActive !== false,
              group_id: null,
              role_id: null,
            },
            _links: { self: { href: `${base}/api/v4/users/${u.id}` } },
          })),
        },
      });
    }
    const widget = /^\/api\/v4\/widgets\/([A-Za-z0-9_-]+)$/.exec(path);
    if (widget && (method === 'GET' || method === 'POST')) {
      if (widget[1] !== this.ctx.integration.widgetCode) throw new RequestError(404, 'Widget not found');
      if (method === 'POST') {
        // §7.1: installing/saving settings is for admins; the body is the settings object itself.
        if (!actor?.isAdmin) throw new RequestError(403, 'Insufficient rights');
        const body = parseJson(await readText(req));
        if (!body || typeof body !== 'object' || Array.isArray(body))
          throw new RequestError(400, 'Expected a settings object');
        account.widgetSettings = body as Json;
      }
      return sendHal(res, 200, {
        id: 1,
        code: this.ctx.integration.widgetCode,
        version: '0.0.0',
        rating: '0',
        settings_template: [
          { key: 'phones', name: 'Extension of each user', type: 'users', is_required: false },
          { key: 'api_url', name: 'Backend URL', type: 'text', is_required: false },
        ],
        is_lead_source: false,
        is_work_with_dp: false,
        is_crm_template: false,
        client_uuid: this.ctx.integration.clientId,
        is_active_in_account: true,
        pipeline_id: null,
        // "The key is returned only when an integration requests its own settings": every token here is ours.
        settings: account.widgetSettings ?? [],
        _links: { self: { href: `${base}/api/v4/widgets/${this.ctx.integration.widgetCode}` } },
      });
    }
    if (method === 'GET' && path === '/api/v4/contacts') return this.contacts(res, url, account);
    if (method === 'POST' && path === '/api/v4/calls') {
      return this.calls(res, account, userId, contextUserId, parseJson(await readText(req)));
    }
    if (method === 'POST' && path === '/api/v4/leads/unsorted/sip') {
      return this.unsortedSip(res, account, userId, contextUserId, parseJson(await readText(req)));
    }
    if (method === 'PATCH' && path === '/api/v4/tasks') {
      return this.updateTasks(res, account, parseJson(await readText(req)));
    }
    if (method === 'POST' && path === '/api/v4/tasks') {
      return this.tasks(res, account, userId, contextUserId, parseJson(await readText(req)));
    }
    if (method === 'POST' && path === '/api/v2/events') {
      if (!grant.scopes.includes('notifications'))
        throw new RequestError(403, 'Notification Center access was not granted');
      return this.events(res, account, userId, parseJson(await readText(req)));
    }
    throw new RequestError(404, 'Not found');
  }

  /** §6.1: `query` matches phone digits (the last 7) or names; no result is 204 with no body. */
  private contacts(res: ServerResponse, url: URL, account: EmulatedAccount) {
    const query = (url.searchParams.get('query') ?? '').trim();
    const { page, limit } = paging(url);
    const digits = digitsOf(query);
    const found = (account.contacts ?? []).filter((c) => {
      if (!query) return true;
      if (digits.length >= 7) return c.phones.some((p) => digitsOf(p).slice(-7) === digits.slice(-7));
      return (
        c.name.toLowerCase().includes(query.toLowerCase()) ||
        (digits.length > 0 && c.phones.some((p) => digitsOf(p).includes(digits)))
      );
    });
    const slice = found.slice((page - 1) * limit, page * limit);
    if (slice.length === 0) return void res.writeHead(204).end();
    const withLeads = (url.searchParams.get('with') ?? '').split(',').includes('leads');
    return sendHal(res, 200, {
      _page: page,
      _links: { self: { href: `${this.ctx.url()}/api/v4/contacts?page=${page}&limit=${limit}` } },
      _embedded: {
        contacts: slice.map((c) => ({
          id: c.id,
          name: c.name,
          first_name: c.name.split(' ')[0] ?? '',
          last_name: c.name.split(' ').slice(1).join(' '),
          responsible_user_id: c.responsibleUserId ?? account.users[0]?.id ?? 0,
          group_id: 0,
          created_by: 0,
          updated_by: 0,
          created_at: 1_600_000_000,
          updated_at: 1_600_000_000,
          closest_task_at: null,
          is_deleted: false,
          account_id: account.id,
          custom_fields_values: [
            {
              field_id: 1,
              field_name: 'Phone',
              field_code: 'PHONE',
              field_type: 'multitext',
              values: c.phones.map((value) => ({ value, enum_id: 1, enum_code: 'WORK' })),
            },
          ],
          _links: { self: { href: `${this.ctx.url()}/api/v4/contacts/${c.id}` } },
          _embedded: {
            tags: [],
            companies: [],
            ...(withLeads
              ? {
                  leads: (c.leads ?? []).map((id) => ({
                    id,
                    _links: { self: { href: `${this.ctx.url()}/api/v4/leads/${id}` } },
                  })),
                }
              : {}),
          },
        })),
      },
    });
  }

  /** §2: an array of calls; matched on the last 10 digits; unmatched calls are not added and come back in errors. */
  private calls(
    res: ServerResponse,
    account: EmulatedAccount,
    userId: number,
    contextUserId: number | undefined,
    body: unknown,
  ) {
    const items = requireArray(body);
    const added: Json[] = [];
    const errors: Json[] = [];
    items.forEach((item, index) => {
      const requestId = typeof item.request_id === 'string' ? item.request_id : String(index);
      if (item.direction !== 'inbound' && item.direction !== 'outbound') {
        throw validationError(
          requestId,
          'direction',
          'NotSupportedChoice',
          'direction: expected inbound or outbound',
        );
      }
      if (!isInt(item.duration) || item.duration < 0)
        throw validationError(requestId, 'duration', 'InvalidType', 'duration: expected seconds');
      if (typeof item.source !== 'string' || !item.source)
        throw validationError(requestId, 'source', 'NotBlank', 'source: required');
      if (typeof item.phone !== 'string' || !item.phone)
        throw validationError(requestId, 'phone', 'NotBlank', 'phone: required');
      for (const [field, value] of Object.entries(item)) {
        // Kommo rejects nulls for optional fields (kommo-server.md §2.1, issues #570/#383).
        if (value === null)
          throw validationError(requestId, field, 'NotNullable', `${field}: must not be null`);
      }
      if (
        item.call_status !== undefined &&
        (!isInt(item.call_status) || item.call_status < 1 || item.call_status > 7)
      ) {
        throw validationError(requestId, 'call_status', 'NotSupportedChoice', 'call_status: expected 1-7');
      }
      const tail = digitsOf(item.phone).slice(-10);
      const contact = (account.contacts ?? []).find((c) =>
        c.phones.some((p) => digitsOf(p).slice(-10) === tail),
      );
      if (!contact || tail.length === 0) {
        errors.push({
          request_id: requestId,
          title: 'Entity not found',
          status: 400,
          detail: 'No entity with this phone number',
        });
        return;
      }
      const leads = contact.leads ?? [];
      const entity =
        leads.length === 1 && leads[0] !== undefined
          ? { id: leads[0], type: 'lead' as const }
          : { id: contact.id, type: 'contact' as const };
      const id = this.ctx.nextId();
      this.ctx.written.calls.push({
        accountId: account.id,
        userId,
        contextUserId,
        at: this.ctx.now(),
        body: item,
        id,
        entity,
      });
      added.push({
        id,
        entity_id: entity.id,
        entity_type: entity.type,
        account_id: account.id,
        request_id: requestId,
        _embedded: {
          entity: {
            id: entity.id,
            _links: { self: { href: `${this.ctx.url()}/api/v4/${entity.type}s/${entity.id}` } },
          },
        },
      });
    });
    if (added.length === 0) return sendHal(res, 400, { _total_items: 0, errors });
    return sendHal(res, 200, { _total_items: added.length, errors, _embedded: { calls: added } });
  }

  /** §4: incoming leads of category sip; two with the same source_uid cannot exist. */
  private unsortedSip(
    res: ServerResponse,
    account: EmulatedAccount,
    userId: number,
    contextUserId: number | undefined,
    body: unknown,
  ) {
    const items = requireArray(body);
    const out: Json[] = [];
    items.forEach((item, index) => {
      const requestId = typeof item.request_id === 'string' ? item.request_id : String(index);
      if (typeof item.source_uid !== 'string' || !item.source_uid)
        throw validationError(requestId, 'source_uid', 'NotBlank', 'source_uid: required');
      if (typeof item.source_name !== 'string' || !item.source_name)
        throw validationError(requestId, 'source_name', 'NotBlank', 'source_name: required');
      const meta = item.metadata as Json | undefined;
      if (!meta || typeof meta !== 'object')
        throw validationError(requestId, 'metadata', 'NotBlank', 'metadata: required for sip');
      for (const field of ['phone', 'service_code', 'uniq'] as const) {
        if (meta[field] !== undefined && typeof meta[field] !== 'string')
          throw validationError(requestId, `metadata.${field}`, 'InvalidType', `${field}: expected a string`);
      }
      for (const field of ['called_at', 'duration'] as const) {
        if (!isInt(meta[field]))
          throw validationError(
            requestId,
            `metadata.${field}`,
            'InvalidType',
            `${field}: expected an integer`,
          );
      }
      if (
        this.ctx.written.unsorted.some(
          (u) => u.accountId === account.id && u.body.source_uid === item.source_uid,
        )
      ) {
        throw validationError(
          requestId,
          'source_uid',
          'Duplicate',
          'an incoming lead with this source_uid exists already',
        );
      }
      const id = this.ctx.nextId();
      const contactId = this.ctx.nextId();
      const leadId = this.ctx.nextId();
      const uid = randomBytes(16).toString('hex');
      this.ctx.written.unsorted.push({
        accountId: account.id,
        userId,
        contextUserId,
        at: this.ctx.now(),
        body: item,
        id,
        entity: { id: leadId, type: 'lead' },
        contactId,
      });
      out.push({
        uid,
        account_id: account.id,
        request_id: requestId,
        _links: { self: { href: `${this.ctx.url()}/api/v4/leads/unsorted/${uid}` } },
        _embedded: { contacts: [{ id: contactId }], leads: [{ id: leadId }], companies: [] },
      });
    });
    return sendHal(res, 200, { _total_items: out.length, _embedded: { unsorted: out } });
  }

  /** §5: `text` and `complete_till` are required; a responsible user must exist. */
  private tasks(
    res: ServerResponse,
    account: EmulatedAccount,
    userId: number,
    contextUserId: number | undefined,
    body: unknown,
  ) {
    const items = requireArray(body);
    const out: Json[] = [];
    items.forEach((item, index) => {
      const requestId = typeof item.request_id === 'string' ? item.request_id : String(index);
      if (typeof item.text !== 'string' || !item.text.trim())
        throw validationError(requestId, 'text', 'NotBlank', 'text: required');
      if (!isInt(item.complete_till))
        throw validationError(
          requestId,
          'complete_till',
          'NotBlank',
          'complete_till: expected a unix timestamp',
        );
      if (
        item.entity_type !== undefined &&
        !['leads', 'contacts', 'companies', 'customers'].includes(String(item.entity_type))
      ) {
        throw validationError(
          requestId,
          'entity_type',
          'NotSupportedChoice',
          'entity_type: expected leads, contacts, companies or customers',
        );
      }
      if (item.entity_type !== undefined && !isInt(item.entity_id))
        throw validationError(requestId, 'entity_id', 'InvalidType', 'entity_id: expected an id');
      if (item.task_type_id !== undefined && item.task_type_id !== 1 && item.task_type_id !== 2) {
        throw validationError(
          requestId,
          'task_type_id',
          'NotSupportedChoice',
          'task_type_id: unknown task type',
        );
      }
      const responsible = item.responsible_user_id ?? userId;
      if (!account.users.some((u) => u.id === responsible)) {
        throw validationError(
          requestId,
          'responsible_user_id',
          'NotSupportedChoice',
          'responsible_user_id: no such user',
        );
      }
      const id = this.ctx.nextId();
      this.ctx.written.tasks.push({
        accountId: account.id,
        userId,
        contextUserId,
        at: this.ctx.now(),
        body: item,
        id,
      });
      out.push({
        id,
        request_id: requestId,
        _links: { self: { href: `${this.ctx.url()}/api/v4/tasks/${id}` } },
      });
    });
    return sendHal(res, 200, {
      _links: { self: { href: `${this.ctx.url()}/api/v4/tasks` } },
      _embedded: { tasks: out },
    });
  }

  /** §5: `PATCH /api/v4/tasks` with `[{id, is_completed, result}]`; an unknown id is refused. */
  private updateTasks(res: ServerResponse, account: EmulatedAccount, body: unknown) {
    const items = requireArray(body);
    const out: Json[] = [];
    items.forEach((item, index) => {
      const task = this.ctx.written.tasks.find((t) => t.accountId === account.id && t.id === item.id);
      if (!task) throw validationError(String(index), 'id', 'NotFound', 'id: no such task');
      if (item.is_completed !== undefined && typeof item.is_completed !== 'boolean')
        throw validationError(
          String(index),
          'is_completed',
          'InvalidType',
          'is_completed: expected a boolean',
        );
      const { id: _id, ...changes } = item;
      Object.assign(task.body, changes);
      out.push({ id: task.id, updated_at: Math.floor(this.ctx.now() / 1000) });
    });
    return sendHal(res, 200, { _embedded: { tasks: out } });
  }

  /** §3: `{add: [{type: phone_call, phone_number, users?}]}` → 202. */
  private events(res: ServerResponse, account: EmulatedAccount, userId: number, body: unknown) {
    const add = (body as Json | undefined)?.add;
    if (!Array.isArray(add) || add.length === 0)
      throw validationError('0', 'add', 'NotBlank', 'add: expected an array of events');
    add.forEach((event: Json, index) => {
      if (event?.type !== 'phone_call')
        throw validationError(String(index), 'type', 'NotSupportedChoice', 'type: expected phone_call');
      if (typeof event.phone_number !== 'string' || !event.phone_number)
        throw validationError(String(index), 'phone_number', 'NotBlank', 'phone_number: required');
      if (
        event.users !== undefined &&
        (!Array.isArray(event.users) ||
          event.users.some((u: unknown) => !account.users.some((x) => String(x.id) === String(u))))
      ) {
        throw validationError(
          String(index),
          'users',
          'NotSupportedChoice',
          'users: expected ids of users of the account',
        );
      }
    });
    for (const event of add as Json[]) {
      this.ctx.written.events.push({
        accountId: account.id,
        userId,
        at: this.ctx.now(),
        body: event,
        id: this.ctx.nextId(),
      });
    }
    res.writeHead(202, { 'content-type': 'application/hal+json' });
    res.end();
  }
}
