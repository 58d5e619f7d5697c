/**
 * The emulator's contact cards: what Kommo's contact card shows of what the calls left (kommo-server.md §2–§5),
 * read from the emulator's state. A known contact's card has the call entries attached to it or to its one
 * lead, and the tasks on either; an unknown caller's incoming lead (Unsorted) brings a contact of its own,
 * whose card has the lead, the call Kommo adds to it (`is_call_event_needed`), and the tasks on the lead.
 * Read-only: the demo page draws these; nothing here changes what the API answers.
 */
import type { EmulatedAccount, WrittenRecord } from './model';

export type CardEntry =
  | {
      kind: 'call';
      /** Epoch ms, when Kommo received it. */
      at: number;
      uniq: string;
      direction: string;
      /** Kommo's call_status (§2.1); absent for a call that came as an incoming lead's metadata. */
      status?: number;
      duration: number;
      link?: string;
      responsibleUserId?: number;
    }
  | {
      kind: 'task';
      at: number;
      text: string;
      /** Unix seconds. */
      due: number;
      done: boolean;
      responsibleUserId?: number;
    };

export interface CardLead {
  id: number;
  name: string;
  /** `incoming`: waiting in Unsorted. */
  status: 'incoming' | 'open';
  source?: string;
}

export interface ContactCard {
  contactId: number;
  name: string;
  phones: string[];
  leads: CardLead[];
  /** Newest first. */
  timeline: CardEntry[];
  /** When the newest entry came (cards are listed newest first). */
  updatedAt: number;
}

export interface Written {
  calls: WrittenRecord[];
  unsorted: WrittenRecord[];
  tasks: WrittenRecord[];
}

const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
const int = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isInteger(value) ? value : undefined;

const callEntry = (record: WrittenRecord): CardEntry => ({
  kind: 'call',
  at: record.at,
  uniq: String(record.body.uniq ?? ''),
  direction: String(record.body.direction ?? 'inbound'),
  status: int(record.body.call_status),
  duration: int(record.body.duration) ?? 0,
  link: text(record.body.link),
  responsibleUserId: int(record.body.call_responsible),
});

const taskEntry = (record: WrittenRecord): CardEntry => ({
  kind: 'task',
  at: record.at,
  text: String(record.body.text ?? ''),
  due: int(record.body.complete_till) ?? 0,
  done: record.body.is_completed === true,
  responsibleUserId: int(record.body.responsible_user_id),
});

const tasksOn = (written: Written, accountId: number, type: 'contacts' | 'leads', ids: readonly number[]) =>
  written.tasks.filter(
    (t) => t.accountId === accountId && t.body.entity_type === type && ids.includes(Number(t.body.entity_id)),
  );

const card = (
  contactId: number,
  name: string,
  phones: string[],
  leads: CardLead[],
  entries: CardEntry[],
): ContactCard => {
  const timeline = [...entries].sort((a, b) => b.at - a.at);
  return { contactId, name, phones, leads, timeline, updatedAt: timeline[0]?.at ?? 0 };
};

/** Every contact card of the account with something on it, the most recently touched first. */
export const contactCards = (account: EmulatedAccount, written: Written): ContactCard[] => {
  const cards: ContactCard[] = [];
  for (const contact of account.contacts ?? []) {
    const leadIds = contact.leads ?? [];
    const calls = written.calls.filter(
      (c) =>
        c.accountId === account.id &&
        ((c.entity?.type === 'contact' && c.entity.id === contact.id) ||
          (c.entity?.type === 'lead' && leadIds.includes(c.entity.id))),
    );
    const tasks = [
      ...tasksOn(written, account.id, 'contacts', [contact.id]),
      ...tasksOn(written, account.id, 'leads', leadIds),
    ];
    if (calls.length + tasks.length === 0) continue;
    cards.push(
      card(
        contact.id,
        contact.name,
        contact.phones,
        leadIds.map((id) => ({ id, name: `Lead #${id}`, status: 'open' })),
        [...calls.map(callEntry), ...tasks.map(taskEntry)],
      ),
    );
  }
  for (const lead of written.unsorted.filter((u) => u.accountId === account.id)) {
    const leadId = lead.entity?.id;
    if (leadId === undefined || lead.contactId === undefined) continue;
    const meta = (lead.body.metadata ?? {}) as Record<string, unknown>;
    const embedded = (lead.body._embedded ?? {}) as {
      leads?: { name?: unknown }[];
      contacts?: { name?: unknown }[];
    };
    const phone = text(meta.phone) ?? text(meta.from) ?? '';
    const entries: CardEntry[] = tasksOn(written, account.id, 'leads', [leadId]).map(taskEntry);
    if (meta.is_call_event_needed === true) {
      entries.push({
        kind: 'call',
        at: lead.at,
        uniq: String(meta.uniq ?? ''),
        direction: 'inbound',
        duration: int(meta.duration) ?? 0,
        link: text(meta.link),
        responsibleUserId: int(meta.call_responsible),
      });
    }
    cards.push(
      card(
        lead.contactId,
        text(embedded.contacts?.[0]?.name) ?? phone,
        phone ? [phone] : [],
        [
          {
            id: leadId,
            name: text(embedded.leads?.[0]?.name) ?? `Lead #${leadId}`,
            status: 'incoming',
            source: text(lead.body.source_name),
          },
        ],
        entries,
      ),
    );
  }
  return cards.sort((a, b) => b.updatedAt - a.updatedAt);
};
