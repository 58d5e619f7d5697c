/**
 * Who hears about a call. The phone system speaks in extensions; Kommo in user ids. The admin maps one to
 * the other in the widget's `users`-type setting (an AgentMap); the store keeps it per extension, so a
 * webhook reads only the extensions it names (see table-design.ts).
 */
import type { Agents } from './protocol';

/** Kommo user id (as a decimal string, the shape Kommo's `users` setting uses) → extension. */
export type AgentMap = Record<string, string>;

export type Audience =
  | { kind: 'everyone' }
  | { kind: 'users'; users: number[]; unmatchedExtensions: string[] };

export const usersByExtension = (map: AgentMap): Map<string, number[]> => {
  const index = new Map<string, number[]>();
  for (const [user, extension] of Object.entries(map)) {
    const id = Number(user);
    const list = index.get(extension) ?? [];
    list.push(id);
    index.set(extension, list);
  }
  return index;
};

/**
 * `agents` absent means every agent of the account (ring-all). `index` holds the users of (at least) the
 * extensions the event names; an extension missing from it is reported as unmatched.
 */
export const resolveAudience = (
  agents: Agents | undefined,
  index: ReadonlyMap<string, readonly number[]>,
): Audience => {
  if (!agents) return { kind: 'everyone' };
  const users = new Set<number>(agents.users ?? []);
  const unmatchedExtensions: string[] = [];
  for (const extension of agents.extensions ?? []) {
    const matched = index.get(extension);
    if (matched) for (const id of matched) users.add(id);
    else unmatchedExtensions.push(extension);
  }
  return { kind: 'users', users: [...users].sort((a, b) => a - b), unmatchedExtensions };
};

/** An agent map as the widget's `users` setting sends it: user id → extension, blanks dropped. */
export const normaliseAgentMap = (input: Record<string, string>): AgentMap => {
  const map: AgentMap = {};
  for (const [user, extension] of Object.entries(input)) {
    const trimmed = extension.trim();
    if (trimmed) map[String(Number(user))] = trimmed;
  }
  return map;
};
