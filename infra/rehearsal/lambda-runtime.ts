/**
 * A Lambda function as the service runs it: execution environments (one process each, on the Lambda's Node
 * major) that load the built bundle once and then take one invocation at a time from the Runtime API; a new
 * environment (a cold start) when all are busy; the environment killed when an invocation outlives the
 * function's timeout.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

const BOOTSTRAP = fileURLToPath(new URL('./bootstrap.mjs', import.meta.url));

export interface FunctionConfig {
  /** The function's logical id in the template. */
  logicalId: string;
  assetDir: string;
  /** The template's `Handler`, e.g. `index.handler`. */
  handler: string;
  /** Exactly what the function's process sees. */
  env: Record<string, string>;
  timeoutMs: number;
  memoryMb: number;
}

/** What Lambda reports for a failed invocation: the handler threw, the runtime died, or time ran out. */
export class LambdaInvocationError extends Error {
  override readonly name = 'LambdaInvocationError';
  constructor(
    readonly functionId: string,
    readonly errorType: string,
    message: string,
    readonly logTail: string[] = [],
  ) {
    super(`${functionId}: ${errorType}: ${message}`);
  }
}

interface Invocation {
  requestId: string;
  event: unknown;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

class Environment {
  readonly server: Server;
  child: ChildProcess | undefined;
  waiting: ServerResponse | undefined;
  current: (Invocation & { timer: NodeJS.Timeout }) | undefined;
  readonly spawnedAt = performance.now();
  initMs: number | undefined;
  dead = false;
  readonly log: string[] = [];
  private markReady: (initMs: number) => void = () => {};
  /** Resolves with the INIT duration once the runtime asks for its first invocation. */
  readonly ready = new Promise<number>((resolve) => {
    this.markReady = resolve;
  });

  constructor(
    private readonly pool: LambdaFunction,
    private readonly config: FunctionConfig,
  ) {
    this.server = createServer((req, res) => {
      this.route(req, res).catch((error: unknown) => {
        res.writeHead(500).end(String(error));
      });
    });
  }

  async start(nodeBinary: string): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const port = (this.server.address() as AddressInfo).port;
    this.child = spawn(nodeBinary, [BOOTSTRAP], {
      cwd: this.config.assetDir,
      env: {
        ...this.config.env,
        AWS_LAMBDA_RUNTIME_API: `127.0.0.1:${port}`,
        _HANDLER: this.config.handler,
        LAMBDA_TASK_ROOT: this.config.assetDir,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) if (line) this.log.push(line);
      if (this.log.length > 200) this.log.splice(0, this.log.length - 200);
    };
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
    this.child.on('exit', (code, signal) => this.died(`runtime exited (${signal ?? code})`));
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '';
    if (req.method === 'GET' && url === '/2018-06-01/runtime/invocation/next') {
      if (this.initMs === undefined) {
        this.initMs = performance.now() - this.spawnedAt;
        this.pool.initDurations.push(this.initMs);
        this.markReady(this.initMs);
      }
      this.waiting = res;
      this.pool.dispatch();
      return;
    }
    const body = await readJson(req);
    const done = /^\/2018-06-01\/runtime\/invocation\/([^/]+)\/(response|error)$/.exec(url);
    const invocation = this.current;
    if (req.method === 'POST' && done && invocation && invocation.requestId === done[1]) {
      clearTimeout(invocation.timer);
      this.current = undefined;
      res.writeHead(202).end('{"status":"OK"}');
      if (done[2] === 'response') invocation.resolve(body);
      else {
        const error = body as { errorType?: string; errorMessage?: string };
        invocation.reject(
          new LambdaInvocationError(
            this.config.logicalId,
            error.errorType ?? 'Error',
            error.errorMessage ?? '',
            this.log.slice(-20),
          ),
        );
      }
      return;
    }
    if (req.method === 'POST' && url === '/2018-06-01/runtime/init/error') {
      const error = body as { errorType?: string; errorMessage?: string };
      res.writeHead(202).end('{"status":"OK"}');
      this.pool.initFailed(
        new LambdaInvocationError(
          this.config.logicalId,
          `Runtime.InitError: ${error.errorType}`,
          error.errorMessage ?? '',
          this.log.slice(-20),
        ),
      );
      return;
    }
    res.writeHead(404).end();
  }

  give(invocation: Invocation): void {
    const res = this.waiting;
    if (!res) throw new Error('environment is not waiting');
    this.waiting = undefined;
    const timer = setTimeout(() => {
      // Lambda stops the sandbox at the timeout; whatever the handler was doing is gone with it.
      this.current = undefined;
      invocation.reject(
        new LambdaInvocationError(
          this.config.logicalId,
          'Sandbox.Timedout',
          `Task timed out after ${(this.config.timeoutMs / 1000).toFixed(2)} seconds`,
          this.log.slice(-20),
        ),
      );
      this.kill();
    }, this.config.timeoutMs);
    this.current = { ...invocation, timer };
    res.writeHead(200, {
      'content-type': 'application/json',
      'lambda-runtime-aws-request-id': invocation.requestId,
      'lambda-runtime-deadline-ms': String(Date.now() + this.config.timeoutMs),
      'lambda-runtime-invoked-function-arn': `arn:aws:lambda:us-east-1:123456789012:function:${this.config.logicalId}`,
    });
    res.end(JSON.stringify(invocation.event));
  }

  private died(reason: string) {
    if (this.dead) return;
    this.dead = true;
    if (this.current) {
      clearTimeout(this.current.timer);
      this.current.reject(
        new LambdaInvocationError(this.config.logicalId, 'Runtime.ExitError', reason, this.log.slice(-20)),
      );
      this.current = undefined;
    }
    this.waiting?.destroy();
    this.server.close();
    this.pool.forget(this);
  }

  kill(): void {
    this.child?.kill('SIGKILL');
    this.died('killed');
  }
}

const readJson = async (req: IncomingMessage): Promise<unknown> => {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : null;
};

export interface LambdaFunctionOptions {
  nodeBinary: string;
  /** Environments at most (Lambda's concurrency for this function). */
  maxEnvironments?: number;
}

export class LambdaFunction {
  private readonly environments = new Set<Environment>();
  private readonly queue: Invocation[] = [];
  /** INIT of every environment started, in ms: process start to the first `next`. */
  readonly initDurations: number[] = [];
  invocations = 0;

  constructor(
    readonly config: FunctionConfig,
    private readonly options: LambdaFunctionOptions,
  ) {}

  invoke(event: unknown): Promise<unknown> {
    this.invocations++;
    return new Promise((resolve, reject) => {
      this.queue.push({ requestId: randomUUID(), event, resolve, reject });
      this.dispatch();
    });
  }

  /** Start one more execution environment with no invocation for it (a provisioned one); resolves with its INIT. */
  async prewarm(): Promise<number> {
    const env = new Environment(this, this.config);
    this.environments.add(env);
    await env.start(this.options.nodeBinary);
    return env.ready;
  }

  dispatch(): void {
    for (const env of this.environments) {
      if (this.queue.length === 0) return;
      if (env.waiting && !env.current && !env.dead) {
        const next = this.queue.shift();
        if (next) env.give(next);
      }
    }
    const starting = [...this.environments].filter((e) => e.initMs === undefined).length;
    if (this.queue.length > starting && this.environments.size < (this.options.maxEnvironments ?? 4)) {
      const env = new Environment(this, this.config);
      this.environments.add(env);
      env.start(this.options.nodeBinary).catch((error: unknown) => this.initFailed(error as Error));
    }
  }

  initFailed(error: Error): void {
    for (const invocation of this.queue.splice(0)) invocation.reject(error);
  }

  forget(env: Environment): void {
    this.environments.delete(env);
    this.dispatch();
  }

  /** Logs of every live environment: what the function printed (JSON log lines). */
  logs(): string[] {
    return [...this.environments].flatMap((e) => e.log);
  }

  async close(): Promise<void> {
    for (const env of [...this.environments]) env.kill();
  }
}
