/**
 * What every command line of this project shares: `--help`, a usage line and exit code 2 for bad arguments,
 * and one readable line, not a stack trace, for the failures a new user meets (a busy port, a second
 * `npm start` in the same folder, no AWS credentials, nothing listening).
 *
 * Exit codes: 0 done, 1 it ran and failed, 2 it was asked wrongly (usage).
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';

/** Wrong arguments or input: printed as `error: …` with exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** A failure the user can fix, already said in one line: printed as `error: …` with exit code 1. */
export class CliError extends Error {
  override readonly name = 'CliError';
}

/** The Node majors we support (README "Requirements"): 22 and 24, the Lambda runtime. */
export const MIN_NODE_MAJOR = 22;

export interface CommandSpec<O extends NonNullable<ParseArgsConfig['options']>> {
  /** e.g. `npm run call -- ringing|answered|ended|missed [options]` */
  usage: string;
  /** One line per option or sub-command, already aligned. */
  details?: string;
  examples: readonly string[];
  options: O;
  allowPositionals?: boolean;
}

export const usageText = (spec: { usage: string; details?: string; examples: readonly string[] }) =>
  [
    `usage: ${spec.usage}`,
    ...(spec.details ? [spec.details] : []),
    'example:',
    ...spec.examples.map((e) => `  ${e}`),
  ].join('\n');

/** Thrown by `parseCommand` for `--help`: the caller prints it and exits 0. */
export class HelpRequested extends Error {
  override readonly name = 'HelpRequested';
}

/**
 * `parseArgs` with `--help`/`-h` added, and its ERR_PARSE_ARGS_* errors turned into a one-line UsageError
 * carrying the usage (so `runCli` prints it and exits 2).
 */
export const parseCommand = <O extends NonNullable<ParseArgsConfig['options']>>(
  spec: CommandSpec<O>,
  argv: string[],
) => {
  const options = { ...spec.options, help: { type: 'boolean', short: 'h' } } as O & {
    help: { type: 'boolean'; short: 'h' };
  };
  let parsed: ReturnType<
    typeof parseArgs<{ args: string[]; options: typeof options; allowPositionals: boolean; strict: true }>
  >;
  try {
    parsed = parseArgs({
      args: argv,
      options,
      allowPositionals: spec.allowPositionals ?? false,
      strict: true,
    });
  } catch (error) {
    throw new UsageError(`${parseArgsMessage(error)}\n${usageText(spec)}`);
  }
  if ((parsed.values as { help?: boolean }).help) throw new HelpRequested(usageText(spec));
  return parsed;
};

/** Node's parseArgs messages, minus their advice about `--` that does not apply to npm scripts. */
const parseArgsMessage = (error: unknown): string => {
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const option = /'([^']+)'/.exec(message)?.[1];
    return `unknown option ${option ?? ''}`.trim();
  }
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
    const value = /'([^']+)'/.exec(message)?.[1];
    return `unexpected argument ${value ? `"${value}"` : ''}`.trim();
  }
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') return message.replace(/\.$/, '');
  throw error;
};

/** One line for the failures people meet in their first hour; undefined for real bugs (they keep the trace). */
export const explainError = (error: unknown, context: { port?: number } = {}): string | undefined => {
  if (error instanceof UsageError || error instanceof CliError) return error.message;
  const e = error as { name?: unknown; code?: unknown; message?: unknown; port?: unknown; address?: unknown };
  const message = typeof e.message === 'string' ? e.message : '';
  if (e.code === 'EADDRINUSE') {
    const port = typeof e.port === 'number' ? e.port : context.port;
    const emulator = port !== undefined && context.port !== undefined && port === context.port + 1;
    return `port ${port ?? '(unknown)'} is already in use${emulator ? ' (npm start runs the Kommo emulator on PORT+1)' : ''} by another npm start or another program: stop it, or pick other ports with PORT=…`;
  }
  // dynalite's LevelDB allows one process per folder; the second one sees its store closed or locked.
  if (
    message === 'Database is closed' ||
    e.code === 'LEVEL_LOCKED' ||
    e.code === 'LEVEL_DATABASE_NOT_OPEN' ||
    /\bLOCK\b.*(?:temporarily unavailable|lock held|Resource)/i.test(message)
  ) {
    return 'another npm start is already running in this folder (its data in .local/dynamo is locked): stop it first, or run this one from another folder';
  }
  if (e.name === 'CredentialsProviderError' || /Could not load credentials/i.test(message)) {
    return 'no AWS credentials found: run `aws configure` (or set AWS_PROFILE), or pass --local to use the running local stack';
  }
  if (e.name === 'ExpiredTokenException' || e.name === 'ExpiredToken') {
    return 'your AWS credentials have expired: sign in again (e.g. `aws sso login`), or pass --local';
  }
  if (e.name === 'UnrecognizedClientException' || e.name === 'InvalidSignatureException') {
    return `AWS refused the credentials (${String(e.name)}): check \`aws configure\`, or pass --local`;
  }
  if (e.name === 'ResourceNotFoundException') {
    return `AWS has no such table here (${message}): is cdk-outputs.json from this region and account? Redeploy or pass --local`;
  }
  const cause = (error as { cause?: { code?: unknown; address?: unknown; port?: unknown } }).cause;
  if (e.code === 'ECONNREFUSED' || cause?.code === 'ECONNREFUSED') {
    const where = cause?.port ? ` on port ${String(cause.port)}` : '';
    return `nothing answers${where}: is the stack running? (npm start in another terminal, or --url for a deployment)`;
  }
  return undefined;
};

/**
 * The AWS SDK prints a 9-line notice on Node below 22. On the versions we support it says nothing; below
 * them we print one line of our own instead.
 */
export const checkNodeVersion = (
  version = process.versions.node,
  warn: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
) => {
  const major = Number(version.split('.')[0]);
  if (major >= MIN_NODE_MAJOR) return true;
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  warn(
    `warning: Node ${version} is not supported; use Node 22 or 24 (on Linux x64, npm ci installs Node 24 for the npm scripts)`,
  );
  return false;
};

/**
 * Runs a command's main: `--help` prints usage (exit 0), bad usage prints `error: …` and usage (exit 2),
 * known failures one line (exit 1), anything else its stack (exit 1: a bug to report).
 */
export const runCli = (main: () => Promise<unknown> | unknown, context: { port?: number } = {}) => {
  checkNodeVersion();
  const fail = (error: unknown) => {
    if (error instanceof HelpRequested) {
      console.log(error.message);
      process.exit(0);
    }
    const line = explainError(error, context);
    if (line !== undefined) {
      console.error(`error: ${line}`);
      process.exit(error instanceof UsageError ? 2 : 1);
    }
    console.error(error);
    process.exit(1);
  };
  // Some failures surface outside main's promise (a server's 'error' event, a callback inside dynalite).
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);
  try {
    const result = main();
    if (result instanceof Promise) result.catch(fail);
  } catch (error) {
    fail(error);
  }
  return fail;
};

/**
 * For scripts whose body runs at module top level (bench, cost, screenshot): parse, or print help (exit 0)
 * or the usage error (exit 2) before anything starts.
 */
export const parseOrExit = <O extends NonNullable<ParseArgsConfig['options']>>(
  spec: CommandSpec<O>,
  argv = process.argv.slice(2),
  prefix = 'error',
) => {
  try {
    return parseCommand(spec, argv);
  } catch (error) {
    if (error instanceof HelpRequested) {
      console.log(error.message);
      process.exit(0);
    }
    console.error(`${prefix}: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(2);
  }
};
