/**
 * A strict DynamoDB front: an HTTP server speaking DynamoDB's JSON protocol in front of dynalite, so the
 * real AWS SDK talks to it unmodified, and it behaves as AWS does where dynalite is kinder: IAM and KMS
 * checks per call, lagging global secondary indexes, capacity charged and tallied per partition key,
 * per-partition throttling, and the item and request limits. See docs/dynamo-front.md.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { crc32 } from 'node:zlib';
import {
  type ArnScope,
  type Authorize,
  checksFor,
  iamDenied,
  KMS_ACTIONS,
  kmsDenied,
  resourceArns,
  tableArn,
} from './authorize';
import { Backend } from './backend';
import { batchGet, batchWrite } from './batches';
import type { FrontContext, Reply } from './context';
import { Gate } from './gate';
import { IndexLag, isShadowTable } from './index-lag';
import { getItem, queryOrScan, writeItem } from './items';
import { KeyLocks } from './key-locks';
import { checkLimits } from './limits';
import {
  type Body,
  FrontError,
  isRecord,
  JSON_CONTENT_TYPE,
  onDemandThrottled,
  provisionedThrottled,
  TARGET_PREFIX,
} from './protocol';
import { Catalog } from './schema';
import { type CallerCredential, parseAuthorization } from './sigv4';
import { CapacityTally } from './tally';
import { PartitionThrottle, type ThroughputLimits } from './throttle';
import { runTransactGet, runTransactWrite } from './transact';
import { TimeToLive } from './ttl';

export interface DynamoFrontOptions {
  /** The DynamoDB endpoint behind the front (dynalite). */
  backendEndpoint: string;
  host?: string;
  port?: number;
  /** How long a table write takes to reach its global secondary indexes; 0 (default) passes straight through. */
  indexLagMs?: number;
  /** Per-partition-key limits; off when absent. AWS_PARTITION_LIMITS holds AWS's figures. */
  throughput?: ThroughputLimits;
  /** The throttle's clock in ms (tests freeze it to make bucket levels exact). */
  now?: () => number;
  /** Called for every IAM action a request needs; every call is allowed when absent. */
  authorize?: Authorize;
  /** Region in the ARNs given to `authorize`; the caller's credential scope region when absent. */
  region?: string;
  /** Account id in the ARNs given to `authorize`. */
  accountId?: string;
  /** Tables encrypted with a customer managed key: table name → key ARN. Calls also need the key. */
  encryptedTables?: Record<string, string>;
}

export interface DynamoFront {
  endpoint: string;
  /** Capacity charged per request and per partition key. */
  capacity: CapacityTally;
  /** Resolves once every index copy already due has landed (tests use it to wait out the lag exactly). */
  settle(): Promise<void>;
  close(): Promise<void>;
}

export const startDynamoFront = async (options: DynamoFrontOptions): Promise<DynamoFront> => {
  const backend = new Backend(options.backendEndpoint);
  const catalog = new Catalog(backend);
  const locks = new KeyLocks();
  const lag = new IndexLag(backend, catalog, options.indexLagMs ?? 0);
  const tally = new CapacityTally();
  const throttle = options.throughput ? new PartitionThrottle(options.throughput, options.now) : undefined;
  const ttl = new TimeToLive(catalog);
  const gate = new Gate();
  const accountId = options.accountId ?? '000000000000';

  const context = (caller: CallerCredential): FrontContext => {
    const scope: ArnScope = { region: options.region ?? caller.region, accountId };
    return {
      backend,
      catalog,
      locks,
      lag,
      caller,
      admit(kind, shape, refs) {
        if (!throttle) return;
        for (const ref of refs) {
          if (throttle.admits(kind, ref)) continue;
          const arn = tableArn(scope, shape.name);
          const resource = ref.index ? `${arn}/index/${ref.index}` : arn;
          const reason = `${ref.index ? 'Index' : 'Table'}${kind === 'read' ? 'Read' : 'Write'}KeyRangeThroughputExceeded`;
          throw shape.onDemand
            ? onDemandThrottled(ref.index !== undefined && kind === 'write', [{ reason, resource }])
            : provisionedThrottled([{ reason, resource }]);
        }
      },
      charge(charges) {
        if (!throttle) return;
        for (const c of charges) {
          if (c.rcu > 0) throttle.charge('read', c, c.rcu);
          if (c.wcu > 0) throttle.charge('write', c, c.wcu);
        }
      },
      record(operation, charges) {
        tally.record(operation, caller.accessKeyId, charges);
      },
      account(operation, charges) {
        this.charge(charges);
        this.record(operation, charges);
      },
    };
  };

  const authorizeRequest = async (operation: string, body: Body, caller: CallerCredential) => {
    if (!options.authorize) return;
    const scope: ArnScope = { region: options.region ?? caller.region, accountId };
    const checks = checksFor(operation, body);
    const request = { operation, body, region: scope.region };
    for (const check of checks) {
      const resources = resourceArns(scope, check);
      const decision = await options.authorize({
        accessKeyId: caller.accessKeyId,
        action: check.action,
        resources,
        request,
        context: { 'aws:RequestedRegion': scope.region },
      });
      if (!decision.allow) {
        throw iamDenied(
          decision.principal,
          check.action,
          decision.resource ?? resources[0] ?? '*',
          decision.reason ?? 'no-allow',
        );
      }
    }
    for (const check of checks) {
      if (check.kind === 'other') continue;
      for (const { table } of check.tables) {
        const keyArn = options.encryptedTables?.[table];
        if (!keyArn) continue;
        for (const action of KMS_ACTIONS[check.kind]) {
          const decision = await options.authorize({
            accessKeyId: caller.accessKeyId,
            action,
            resources: [keyArn],
            request,
            context: {
              'aws:RequestedRegion': scope.region,
              'kms:ViaService': `dynamodb.${scope.region}.amazonaws.com`,
              'kms:CallerAccount': scope.accountId,
            },
          });
          if (!decision.allow) throw kmsDenied(randomUUID());
        }
      }
    }
  };

  const dispatch = async (operation: string, body: Body, caller: CallerCredential): Promise<Reply> => {
    const ctx = context(caller);
    switch (operation) {
      case 'GetItem':
        return getItem(ctx, body);
      case 'Query':
      case 'Scan':
        return queryOrScan(ctx, operation, body);
      case 'PutItem':
      case 'UpdateItem':
      case 'DeleteItem':
        return writeItem(ctx, operation, body);
      case 'BatchGetItem':
        return batchGet(ctx, body);
      case 'BatchWriteItem':
        return batchWrite(ctx, body);
      case 'TransactWriteItems':
        return runTransactWrite(ctx, body);
      case 'TransactGetItems':
        return runTransactGet(ctx, body);
      case 'UpdateTimeToLive':
        return ttl.update(body);
      case 'DescribeTimeToLive':
        return (await ttl.describe(body)) ?? backend.send(operation, body);
      case 'ListTables': {
        const reply = await backend.send(operation, body);
        if (Array.isArray(reply.body.TableNames)) {
          reply.body.TableNames = reply.body.TableNames.filter((n) => !isShadowTable(String(n)));
        }
        return reply;
      }
      case 'CreateTable':
      case 'UpdateTable':
      case 'DeleteTable': {
        const reply = await backend.send(operation, body);
        const table = String(body.TableName);
        catalog.forget(table);
        if (operation === 'DeleteTable' && reply.status === 200) await lag.dropped(table);
        return reply;
      }
      default:
        return backend.send(operation, body);
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const raw = await readBody(req);
    const target = req.headers['x-amz-target'];
    const caller = parseAuthorization(req.headers.authorization);
    let body: unknown;
    try {
      body = raw.length > 0 ? JSON.parse(raw.toString('utf8')) : undefined;
    } catch {
      body = undefined;
    }
    // Anything the front does not model (health checks, unsigned or malformed calls) gets dynalite's answer.
    if (
      req.method !== 'POST' ||
      typeof target !== 'string' ||
      !target.startsWith(TARGET_PREFIX) ||
      !caller ||
      !isRecord(body)
    ) {
      return passThrough(options.backendEndpoint, req, raw, res);
    }
    const operation = target.slice(TARGET_PREFIX.length);
    try {
      await authorizeRequest(operation, body, caller);
      checkLimits(operation, body);
      const transaction = operation === 'TransactWriteItems' || operation === 'TransactGetItems';
      const run = () => dispatch(operation, body, caller);
      const reply = await (transaction ? gate.alone(run) : gate.enter(run));
      send(res, reply.status, reply.body, reply.requestId);
    } catch (error) {
      if (error instanceof FrontError) return send(res, error.status, error.body);
      send(res, 500, {
        __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError',
        message: `dynamo front: ${(error as Error).message}`,
      });
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    endpoint: `http://${options.host ?? '127.0.0.1'}:${address.port}`,
    capacity: tally,
    settle: () => lag.flush(),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await lag.close();
    },
  };
};

const readBody = (req: IncomingMessage): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });

const send = (res: ServerResponse, status: number, body: Body, requestId: string = randomUUID()) => {
  const text = JSON.stringify(body);
  const headers: Record<string, string | number> = {
    'content-type': JSON_CONTENT_TYPE,
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': requestId,
    'x-amz-crc32': crc32(text),
  };
  if (status !== 200 && typeof body.__type === 'string') {
    headers['x-amzn-errortype'] = body.__type.split('#').pop() ?? body.__type;
  }
  res.writeHead(status, headers);
  res.end(text);
};

const passThrough = async (endpoint: string, req: IncomingMessage, raw: Buffer, res: ServerResponse) => {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (typeof value === 'string' && !['host', 'content-length', 'connection'].includes(name))
      headers[name] = value;
  }
  const reply = await fetch(`${endpoint}${req.url ?? '/'}`, {
    method: req.method,
    headers,
    body: req.method === 'GET' || req.method === 'HEAD' ? undefined : new Uint8Array(raw),
  });
  const text = Buffer.from(await reply.arrayBuffer());
  const out: Record<string, string> = {};
  reply.headers.forEach((value, name) => {
    if (!['content-length', 'transfer-encoding', 'connection', 'keep-alive'].includes(name))
      out[name] = value;
  });
  res.writeHead(reply.status, { ...out, 'content-length': text.length });
  res.end(text);
};
