/**
 * Reads the AMI transcripts in fixtures/: `#` lines at the top name the source, then AMI frames as Asterisk
 * writes them ("Key: Value" lines, a blank line after each frame). Files keep LF line ends; `toWire` restores
 * the CRLF that Asterisk sends.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const FIXTURES = join(import.meta.dirname, 'fixtures');

export type Frame = [key: string, value: string][];

/**
 * @param systemName prefixed to every Uniqueid/Linkedid, as Asterisk's `systemname` setting does; lets one
 *   test replay a recorded call again as a different call.
 */
export const loadTranscript = (name: string, systemName = ''): Frame[] => {
  const text = readFileSync(join(FIXTURES, name), 'utf8');
  const body = text
    .split('\n')
    .filter((line) => !line.startsWith('#'))
    .join('\n');
  return body
    .split(/\n\s*\n/)
    .map((block) =>
      block
        .split('\n')
        .filter((line) => line.length > 0)
        .map((line): [string, string] => {
          const at = line.indexOf(':');
          const key = line.slice(0, at);
          const value = line.slice(at + 1).replace(/^ /, '');
          return [
            key,
            systemName && /(uniqueid|linkedid)$/i.test(key) && value ? `${systemName}${value}` : value,
          ];
        }),
    )
    .filter((frame) => frame.length > 0);
};

export const toWire = (frame: Frame): string => `${frame.map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n`;

/** The frame as the AMI library hands it over: header names lower-cased. */
export const toRecord = (frame: Frame): Record<string, string> =>
  Object.fromEntries(frame.map(([k, v]) => [k.toLowerCase(), v]));

export const eventName = (frame: Frame): string | undefined => frame.find(([k]) => k === 'Event')?.[1];
