/**
 * The Lambda service's Invoke API, as the SDK's LambdaClient calls it (`POST /2015-03-31/functions/{name}/
 * invocations`), in front of the rehearsal's functions: each call is checked against the caller's role
 * (`lambda:InvokeFunction` on the function's ARN) and an asynchronous one (`X-Amz-Invocation-Type: Event`)
 * is answered 202 at once and run after, as Lambda queues it.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LambdaApiDeps {
  /** The function's logical id for a physical name, if it exists. */
  resolve(name: string): string | undefined;
  arnOf(logicalId: string): string;
  authorize(
    accessKeyId: string | undefined,
    action: string,
    resource: string,
  ): { allowed: boolean; principal: string };
  invoke(logicalId: string, event: unknown): Promise<unknown>;
}

export interface LambdaApi {
  endpoint: string;
  /** Asynchronous invocations to lose (past Lambda's own two retries): what the hourly sweeps exist for. */
  faults: { dropAsync: number };
  /** Invocations queued and still running: the rehearsal waits on them. */
  pending: Set<Promise<unknown>>;
  close(): Promise<void>;
}

export const startLambdaApi = async (deps: LambdaApiDeps): Promise<LambdaApi> => {
  const pending = new Set<Promise<unknown>>();
  const faults = { dropAsync: 0 };
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const error = (status: number, type: string, message: string) => {
      res.writeHead(status, { 'content-type': 'application/json', 'x-amzn-errortype': type });
      res.end(JSON.stringify({ Type: 'User', message }));
    };
    const match = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/.exec(req.url ?? '');
    if (req.method !== 'POST' || !match?.[1])
      return error(404, 'ResourceNotFoundException', 'unknown operation');
    const name = decodeURIComponent(match[1]);
    const logicalId = deps.resolve(name);
    if (!logicalId) return error(404, 'ResourceNotFoundException', `Function not found: ${name}`);
    const resource = deps.arnOf(logicalId);
    const accessKeyId = /Credential=([^/]+)\//.exec(req.headers.authorization ?? '')?.[1];
    const decision = deps.authorize(accessKeyId, 'lambda:InvokeFunction', resource);
    if (!decision.allowed) {
      return error(
        403,
        'AccessDeniedException',
        `User: ${decision.principal} is not authorized to perform: lambda:InvokeFunction on resource: ${resource} because no identity-based policy allows the lambda:InvokeFunction action`,
      );
    }
    const event = JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null') as unknown;
    if (req.headers['x-amz-invocation-type'] === 'Event') {
      res.writeHead(202).end();
      if (faults.dropAsync > 0) {
        faults.dropAsync--;
        return;
      }
      const run = deps.invoke(logicalId, event).catch(() => undefined);
      pending.add(run);
      void run.finally(() => pending.delete(run));
      return;
    }
    try {
      const result = await deps.invoke(logicalId, event);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(result ?? null));
    } catch (failure) {
      res
        .writeHead(200, { 'content-type': 'application/json', 'x-amz-function-error': 'Unhandled' })
        .end(JSON.stringify({ errorMessage: String(failure) }));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    pending,
    faults,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
};
