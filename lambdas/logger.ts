import type { LogFields, Logger } from './ports';

/**
 * One JSON line per entry, so CloudWatch Logs Insights can query fields. Call events carry phone numbers
 * and requests carry tokens, tickets and signatures: callers log ids and counts, never payloads.
 */
export const jsonLogger = (
  service: string,
  write: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
): Logger => {
  const log =
    (level: string) =>
    (message: string, fields: LogFields = {}) =>
      write(JSON.stringify({ level, service, message, time: new Date().toISOString(), ...fields }));
  return { info: log('info'), warn: log('warn'), error: log('error') };
};

export const silentLogger: Logger = { info: () => {}, warn: () => {}, error: () => {} };

export const errorFields = (error: unknown): LogFields =>
  error instanceof Error
    ? {
        error: error.name,
        errorMessage: error.message,
        cause: error.cause instanceof Error ? error.cause.message : undefined,
      }
    : { error: String(error) };
