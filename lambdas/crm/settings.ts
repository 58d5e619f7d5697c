/**
 * What an account's admins choose for the CRM side (issue 13 §5): which of unsorted leads, missed-call tasks
 * and the bell fallback are on, the task delay, the duty user and the source name. Validated here, once, for
 * the settings endpoint and for whatever the store returns.
 */
import * as v from 'valibot';

export interface CrmSettings {
  /** An unknown caller's call becomes an incoming lead in Unsorted (kommo-server.md §4). */
  leads: boolean;
  /** An unanswered inbound call becomes a "Call back" task (§5). */
  tasks: boolean;
  /** A later answered call with the same number completes the open task before it is due. */
  completeTasks: boolean;
  /** Kommo's own notification (§3) when no tab of the rung users is open. */
  bell: boolean;
  /** How long after the missed call the task is due. */
  taskDelayMinutes: number;
  /** Who gets the task when neither the contact nor the call names a user. */
  dutyUserId?: number;
  /** `source` of every call entry and `source_name` of every incoming lead: the phone system's name. */
  sourceName: string;
}

export const DEFAULT_CRM_SETTINGS: CrmSettings = {
  leads: true,
  tasks: true,
  completeTasks: true,
  bell: true,
  taskDelayMinutes: 15,
  sourceName: 'Callbridge',
};

export const CrmSettingsPatchSchema = v.strictObject({
  leads: v.optional(v.boolean('expected true or false')),
  tasks: v.optional(v.boolean('expected true or false')),
  completeTasks: v.optional(v.boolean('expected true or false')),
  bell: v.optional(v.boolean('expected true or false')),
  taskDelayMinutes: v.optional(
    v.pipe(
      v.number('expected a number of minutes'),
      v.integer('expected whole minutes'),
      v.minValue(0, 'expected 0 or more minutes'),
      v.maxValue(7 * 24 * 60, 'expected at most one week in minutes'),
    ),
  ),
  dutyUserId: v.optional(
    v.nullable(
      v.pipe(v.number('expected a Kommo user id'), v.integer('expected a Kommo user id'), v.minValue(1)),
    ),
  ),
  sourceName: v.optional(
    v.pipe(
      v.string('expected a name'),
      v.trim(),
      v.minLength(1, 'expected a name of 1-64 characters'),
      v.maxLength(64, 'expected a name of 1-64 characters'),
    ),
  ),
});
export type CrmSettingsPatch = v.InferOutput<typeof CrmSettingsPatchSchema>;

/** A stored or patched value over the defaults; `dutyUserId: null` removes the duty user. */
export const mergeSettings = (base: CrmSettings, patch: CrmSettingsPatch): CrmSettings => {
  const { dutyUserId, ...rest } = patch;
  const merged: CrmSettings = { ...base };
  for (const [key, value] of Object.entries(rest)) {
    if (value !== undefined) (merged as unknown as Record<string, unknown>)[key] = value;
  }
  if (dutyUserId === null) delete merged.dutyUserId;
  else if (dutyUserId !== undefined) merged.dutyUserId = dutyUserId;
  return merged;
};
