/**
 * The tracker's memory of calls in progress, kept on disk so a restarted bridge (even after `kill -9`) knows
 * which calls it was following, which agents it had announced and which transfer segment a call is in.
 * It is a cache, not the record: a stale or unreadable file only means the reconnect resync
 * (CoreShowChannels) has more to reconcile, and re-emitted events carry the webhook ids already used.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as v from 'valibot';
import { writeAtomically } from './outbox';
import { emptyState, type TrackerState } from './tracker';

const FILE = 'tracker-state.json';
const VERSION = 1;

const StateFileSchema = v.object({
  version: v.literal(VERSION),
  state: v.object({
    channels: v.record(
      v.string(),
      v.looseObject({ name: v.string(), linkedid: v.string(), kind: v.string() }),
    ),
    bridges: v.record(v.string(), v.array(v.string())),
    calls: v.record(
      v.string(),
      v.looseObject({ linkedid: v.string(), segment: v.number(), phase: v.string() }),
    ),
    ended: v.record(v.string(), v.number()),
  }),
});

export const loadTrackerState = async (
  dataDir: string,
): Promise<{ state: TrackerState; problem?: string }> => {
  let text: string;
  try {
    text = await readFile(join(dataDir, FILE), 'utf8');
  } catch {
    return { state: emptyState() };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { state: emptyState(), problem: `${FILE} is not JSON; starting empty (resync rebuilds calls)` };
  }
  const parsed = v.safeParse(StateFileSchema, json);
  if (!parsed.success) {
    return {
      state: emptyState(),
      problem: `${FILE} has an unknown shape; starting empty (resync rebuilds calls)`,
    };
  }
  // The file is only ever written by saveTrackerState from a TrackerState; the schema above checked its frame.
  return { state: parsed.output.state as unknown as TrackerState };
};

export const saveTrackerState = (dataDir: string, state: TrackerState): Promise<void> =>
  writeAtomically(dataDir, FILE, JSON.stringify({ version: VERSION, state }));
