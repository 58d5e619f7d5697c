/**
 * The deployment, rehearsed offline: the synthesized template is read as CloudFormation would deploy it, and
 * every Lambda in it runs from its built bundle, on Node 24, in a process of its own, with exactly the
 * template's environment, behind the local API Gateway wired by the template's own routes, integrations and
 * invoke permissions. Each function signs its SDK calls with credentials of its own, and every DynamoDB, KMS
 * and @connections call is checked against that function's role policies from the template: a call its role
 * does not allow fails with AccessDeniedException, as on AWS.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CreateTableCommand, type CreateTableCommandInput, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { HttpRoute } from '../../lambdas/functions/manifest';
import { type DynamoFront, startDynamoFront } from '../local/dynamo/front';
import { type GatewayHandlers, LocalGateway } from '../local/gateway';
import { startDynalite } from '../local/stack';
import { WS_STAGE } from '../routes';
import { evaluate, keyDelegatesToIam, type NamedPolicy, rolePolicies, type Statement } from './iam';
import { type CfnTemplate, physicalId, REHEARSAL_ACCOUNT, REHEARSAL_REGION, resolve } from './intrinsics';
import { startLambdaApi } from './lambda-api';
import { LambdaFunction } from './lambda-runtime';
import { SqsStandIn } from './sqs';

export interface RehearsalInput {
  template: CfnTemplate;
  /** Function logical id → the staged asset directory of its bundle. */
  assets: ReadonlyMap<string, string>;
  nodeBinary: string;
  /** GSI lag of the DynamoDB stand-in (AWS: usually under a second, unbounded in the worst case). */
  indexLagMs: number;
  /**
   * Where the outside world the functions talk to is, standing in for the internet as AWS_ENDPOINT_URL_* stand
   * in for AWS's network: e.g. `{ KOMMO_API_ORIGIN: <the Kommo emulator> }`. Added to every function.
   */
  network?: Record<string, string>;
}

export interface AccessRecord {
  function: string;
  action: string;
  resource: string;
  allowed: boolean;
  /** The policy statement that allowed it (for the "every grant is used" check). */
  statement?: Statement;
}

export interface Rehearsal {
  url: string;
  /** The URL CDK outputs for the WebSocket stage, pointed at the local gateway. */
  webSocketUrl: string;
  gateway: LocalGateway;
  front: DynamoFront;
  functions: ReadonlyMap<string, LambdaFunction>;
  /** Physical table names by logical id. */
  tables: Record<string, string>;
  /** Every IAM decision taken, in order. */
  access: AccessRecord[];
  /** A DynamoDB client with every permission (the operator's, for seeding accounts). */
  admin: DynamoDBClient;
  /** Run a scheduled function as EventBridge would, through the template's Rule, target and permission. */
  runSchedule(functionLogicalIdPrefix: string): Promise<unknown>;
  /** Resolves when every asynchronous invocation queued so far has finished. */
  settleInvocations(): Promise<void>;
  /** Lose the next asynchronous invocations (a failure past Lambda's own retries). */
  dropAsyncInvocations(count: number): void;
  /** The template's SQS queues and event source mappings (the CRM queue, issue 13). */
  sqs: SqsStandIn;
  stop(): Promise<void>;
}

const ADMIN_KEY = 'rehearsal-admin';
const accessKeyOf = (logicalId: string) => `rehearsal-${logicalId}`;

type Resources = CfnTemplate['Resources'];
const ofType = (resources: Resources, type: string) =>
  Object.entries(resources).filter(([, r]) => r.Type === type);

/** `arn:…:function:Rehearsal-<logicalId>` (possibly inside an apigateway invocation URI) → logicalId. */
const functionIdIn = (arn: string): string => {
  const match = /function:Rehearsal-([A-Za-z0-9]+)/.exec(arn);
  if (!match?.[1]) throw new Error(`rehearsal: no function in ${arn}`);
  return match[1];
};

export const startRehearsal = async (input: RehearsalInput): Promise<Rehearsal> => {
  const { template } = input;
  const resources = template.Resources;
  const access: AccessRecord[] = [];

  // --- who may do what: each function's role, from the template ---

  const functionIds = ofType(resources, 'AWS::Lambda::Function').map(([id]) => id);
  const policiesByKey = new Map<string, { fn: string; policies: NamedPolicy[] }>();
  for (const fn of functionIds) {
    const role = (resources[fn]?.Properties?.Role as { 'Fn::GetAtt'?: [string, string] } | undefined)?.[
      'Fn::GetAtt'
    ]?.[0];
    if (!role) throw new Error(`template: function ${fn} has no role of this stack`);
    policiesByKey.set(accessKeyOf(fn), { fn, policies: rolePolicies(template, role) });
  }
  const keyIdByArn = new Map(
    ofType(resources, 'AWS::KMS::Key').map(([id]) => [
      resolve(template, { 'Fn::GetAtt': [id, 'Arn'] }) as string,
      id,
    ]),
  );
  const decide = (accessKeyId: string | undefined, action: string, resource: string) => {
    if (accessKeyId === ADMIN_KEY) return { allowed: true as const, principal: 'admin' };
    const caller = accessKeyId ? policiesByKey.get(accessKeyId) : undefined;
    if (!caller) return { allowed: false as const, principal: `unknown key ${accessKeyId}` };
    const principal = `arn:aws:sts::${REHEARSAL_ACCOUNT}:assumed-role/Rehearsal-${caller.fn}Role/${caller.fn}`;
    // A KMS key's own policy must hand authority to IAM before any identity policy counts.
    const keyId = action.startsWith('kms:') ? keyIdByArn.get(resource) : undefined;
    if (action.startsWith('kms:') && !(keyId && keyDelegatesToIam(template, keyId))) {
      access.push({ function: caller.fn, action, resource, allowed: false });
      return { allowed: false as const, principal };
    }
    const decision = evaluate(caller.policies, action, resource);
    access.push({
      function: caller.fn,
      action,
      resource,
      allowed: decision.allowed,
      statement: decision.allowed ? decision.statement : undefined,
    });
    return { ...decision, principal };
  };

  // --- DynamoDB: tables as the template declares them, behind the checking front ---

  const db = await startDynalite();
  const tableIds = ofType(resources, 'AWS::DynamoDB::Table').map(([id]) => id);
  const tables = Object.fromEntries(tableIds.map((id) => [id, physicalId(template, id)]));
  const encryptedTables: Record<string, string> = {};
  const backendClient = new DynamoDBClient({
    endpoint: db.endpoint,
    region: REHEARSAL_REGION,
    credentials: { accessKeyId: ADMIN_KEY, secretAccessKey: 'x' },
  });
  for (const id of tableIds) {
    const props = resolve(template, resources[id]?.Properties) as Record<string, unknown>;
    const sse = props.SSESpecification as { KMSMasterKeyId?: string } | undefined;
    if (sse?.KMSMasterKeyId) encryptedTables[tables[id] as string] = sse.KMSMasterKeyId;
    await backendClient.send(
      new CreateTableCommand({
        TableName: tables[id],
        BillingMode: props.BillingMode as 'PAY_PER_REQUEST',
        KeySchema: props.KeySchema as CreateTableCommandInput['KeySchema'],
        AttributeDefinitions: props.AttributeDefinitions as CreateTableCommandInput['AttributeDefinitions'],
        GlobalSecondaryIndexes:
          props.GlobalSecondaryIndexes as CreateTableCommandInput['GlobalSecondaryIndexes'],
      }),
    );
  }
  backendClient.destroy();
  const front = await startDynamoFront({
    backendEndpoint: db.endpoint,
    indexLagMs: input.indexLagMs,
    region: REHEARSAL_REGION,
    accountId: REHEARSAL_ACCOUNT,
    encryptedTables,
    authorize: ({ accessKeyId, action, resources: arns }) => {
      for (const arn of arns) {
        const decision = decide(accessKeyId, action, arn);
        if (!decision.allowed) {
          return {
            allow: false,
            principal: decision.principal,
            resource: arn,
            reason: 'reason' in decision ? decision.reason : 'no-allow',
          };
        }
      }
      return { allow: true };
    },
  });

  // --- API Gateway: routes and integrations as the template wires them ---

  const apis = ofType(resources, 'AWS::ApiGatewayV2::Api');
  const apiIdOf = (protocol: string) => {
    const found = apis.find(([, r]) => r.Properties?.ProtocolType === protocol);
    if (!found) throw new Error(`template: no ${protocol} API`);
    return { logicalId: found[0], apiId: physicalId(template, found[0]) };
  };
  const httpApi = apiIdOf('HTTP');
  const wsApi = apiIdOf('WEBSOCKET');
  const integrationFunction = new Map(
    ofType(resources, 'AWS::ApiGatewayV2::Integration').map(([id, r]) => [
      physicalId(template, id),
      functionIdIn(String(resolve(template, r.Properties?.IntegrationUri))),
    ]),
  );
  const routes = ofType(resources, 'AWS::ApiGatewayV2::Route').map(([, r]) => {
    const apiId = resolve(template, r.Properties?.ApiId) as string;
    const target = String(resolve(template, r.Properties?.Target)).replace(/^integrations\//, '');
    const fn = integrationFunction.get(target);
    if (!fn)
      throw new Error(`template: route ${String(r.Properties?.RouteKey)} targets no known integration`);
    return { apiId, routeKey: String(r.Properties?.RouteKey), fn };
  });
  const httpRoutes: HttpRoute[] = routes
    .filter((r) => r.apiId === httpApi.apiId)
    .map((r) => {
      const [method, path] = r.routeKey.split(' ') as [HttpRoute['method'], string];
      return { method, path, routeKey: r.routeKey, fn: r.fn };
    });
  const wsRoute = (key: string) => {
    const route = routes.find((r) => r.apiId === wsApi.apiId && r.routeKey === key);
    if (!route) throw new Error(`template: no WebSocket route ${key}`);
    return route.fn;
  };
  const [authorizerEntry] = ofType(resources, 'AWS::ApiGatewayV2::Authorizer');
  if (!authorizerEntry) throw new Error('template: no WebSocket authorizer');
  const authorizerFn = functionIdIn(String(resolve(template, authorizerEntry[1].Properties?.AuthorizerUri)));

  // API Gateway may invoke a function only where a resource policy (AWS::Lambda::Permission) lets it.
  const permissions = ofType(resources, 'AWS::Lambda::Permission').map(
    ([, r]) =>
      resolve(template, r.Properties) as { FunctionName: string; Principal: string; SourceArn?: string },
  );
  const apiArn = (apiId: string) => `arn:aws:execute-api:${REHEARSAL_REGION}:${REHEARSAL_ACCOUNT}:${apiId}`;
  const mayInvoke = (fn: string, sourceArn: string) =>
    permissions.some(
      (p) =>
        functionIdIn(p.FunctionName) === fn &&
        p.Principal === 'apigateway.amazonaws.com' &&
        (p.SourceArn === undefined ||
          new RegExp(`^${p.SourceArn.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`).test(
            sourceArn,
          )),
    );

  const lambdaApi = await startLambdaApi({
    resolve: (name) => functionIds.find((id) => physicalId(template, id) === name),
    arnOf: (id) => resolve(template, { 'Fn::GetAtt': [id, 'Arn'] }) as string,
    authorize: (accessKeyId, action, resource) => decide(accessKeyId, action, resource),
    invoke: (id, event) => {
      const target = functions.get(id);
      if (!target) return Promise.reject(new Error(`no function ${id}`));
      return target.invoke(event);
    },
  });

  const gateway = new LocalGateway({
    corsOrigins: ['https://*.kommo.com'],
    routes: httpRoutes,
    authorizeManagement: ({ accessKeyId, method, connectionId }) => {
      const resource = `${apiArn(wsApi.apiId)}/${WS_STAGE}/${method}/@connections/${connectionId}`;
      const decision = decide(accessKeyId, 'execute-api:ManageConnections', resource);
      return decision.allowed
        ? { allowed: true }
        : {
            allowed: false,
            message: `User: ${decision.principal} is not authorized to perform: execute-api:ManageConnections on resource: ${resource}`,
          };
    },
  });
  await gateway.listen();

  // --- SQS (issue 13): the template's queues behind a checking stand-in ---

  const sqs = new SqsStandIn(decide);
  for (const [id, queue] of ofType(resources, 'AWS::SQS::Queue')) {
    const props = resolve(template, queue.Properties ?? {}) as {
      VisibilityTimeout?: number;
      RedrivePolicy?: { deadLetterTargetArn: string; maxReceiveCount: number };
    };
    sqs.addQueue({
      arn: resolve(template, { 'Fn::GetAtt': [id, 'Arn'] }) as string,
      name: `Rehearsal-${id}`,
      visibilityMs: (props.VisibilityTimeout ?? 30) * 1000,
      ...(props.RedrivePolicy
        ? {
            redrive: {
              deadLetterArn: props.RedrivePolicy.deadLetterTargetArn,
              maxReceiveCount: props.RedrivePolicy.maxReceiveCount,
            },
          }
        : {}),
    });
  }
  await sqs.listen();
  const sqsHost = `https://sqs.${REHEARSAL_REGION}.amazonaws.com`;

  // --- functions: built bundles, template environment, own credentials ---

  const wsHost = `https://${wsApi.apiId}.execute-api.${REHEARSAL_REGION}.amazonaws.com`;
  const wssHost = `wss://${wsApi.apiId}.execute-api.${REHEARSAL_REGION}.amazonaws.com`;
  const toLocal = (value: string) =>
    value
      .replace(wsHost, gateway.url)
      .replace(wssHost, gateway.url.replace(/^http/, 'ws'))
      .replace(sqsHost, sqs.url);
  const functions = new Map<string, LambdaFunction>();
  for (const id of functionIds) {
    const props = resolve(template, resources[id]?.Properties) as {
      Handler: string;
      Timeout?: number;
      MemorySize?: number;
      Environment?: { Variables?: Record<string, string> };
    };
    const assetDir = input.assets.get(id);
    if (!assetDir || !existsSync(join(assetDir, 'index.mjs')))
      throw new Error(`rehearsal: no bundle for ${id}`);
    const variables = Object.fromEntries(
      Object.entries(props.Environment?.Variables ?? {}).map(([k, v]) => [k, toLocal(String(v))]),
    );
    functions.set(
      id,
      new LambdaFunction(
        {
          logicalId: id,
          assetDir,
          handler: props.Handler,
          timeoutMs: (props.Timeout ?? 3) * 1000,
          memoryMb: props.MemorySize ?? 128,
          env: {
            ...variables,
            // What the Lambda service sets, and the one redirection standing in for AWS's network.
            AWS_REGION: REHEARSAL_REGION,
            AWS_DEFAULT_REGION: REHEARSAL_REGION,
            AWS_LAMBDA_FUNCTION_NAME: physicalId(template, id),
            AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(props.MemorySize ?? 128),
            AWS_ACCESS_KEY_ID: accessKeyOf(id),
            AWS_SECRET_ACCESS_KEY: 'rehearsal-secret',
            AWS_SESSION_TOKEN: 'rehearsal-session',
            AWS_ENDPOINT_URL_DYNAMODB: front.endpoint,
            AWS_ENDPOINT_URL_LAMBDA: lambdaApi.endpoint,
            ...input.network,
            AWS_ENDPOINT_URL_SQS: sqs.url,
            TZ: ':UTC',
            PATH: '/usr/bin:/bin',
          },
        },
        { nodeBinary: input.nodeBinary },
      ),
    );
  }
  const invoker = (fn: string, sourceArn: string) => async (event: unknown) => {
    const target = functions.get(fn);
    if (!target) throw new Error(`rehearsal: no function ${fn}`);
    if (!mayInvoke(fn, sourceArn))
      throw new Error(`API Gateway is not allowed to invoke ${fn} for ${sourceArn}`);
    // Whatever the function answered, as API Gateway would hand it back: the gateway reads the shape it expects.
    return (await target.invoke(event)) as never;
  };
  const http: GatewayHandlers['http'] = {};
  for (const route of httpRoutes) {
    http[route.fn] ??= async (event) => {
      const [method, path] = event.routeKey.split(' ');
      return invoker(route.fn, `${apiArn(httpApi.apiId)}/$default/${method}${path}`)(event);
    };
  }
  gateway.attach({
    http,
    authorizer: invoker(
      authorizerFn,
      `${apiArn(wsApi.apiId)}/authorizers/${physicalId(template, authorizerEntry[0])}`,
    ),
    connect: invoker(wsRoute('$connect'), `${apiArn(wsApi.apiId)}/${WS_STAGE}/$connect`),
    disconnect: invoker(wsRoute('$disconnect'), `${apiArn(wsApi.apiId)}/${WS_STAGE}/$disconnect`),
    default: invoker(wsRoute('$default'), `${apiArn(wsApi.apiId)}/${WS_STAGE}/$default`),
  });

  // --- SQS event source mappings (issue 13): the Lambda service polls with the function's role ---

  for (const [, mapping] of ofType(resources, 'AWS::Lambda::EventSourceMapping')) {
    const props = resolve(template, mapping.Properties ?? {}) as {
      EventSourceArn: string;
      FunctionName: string;
      BatchSize?: number;
    };
    const fn = String(props.FunctionName).replace(/^.*Rehearsal-/, '');
    const target = functions.get(fn);
    if (!target) throw new Error(`template: event source mapping targets no known function (${fn})`);
    sqs.start({
      queueArn: props.EventSourceArn,
      fn,
      accessKeyId: accessKeyOf(fn),
      batchSize: props.BatchSize ?? 10,
      invoke: (event) => target.invoke(event),
    });
  }

  const admin = new DynamoDBClient({
    endpoint: front.endpoint,
    region: REHEARSAL_REGION,
    credentials: { accessKeyId: ADMIN_KEY, secretAccessKey: 'x' },
  });

  // EventBridge: a Rule's target may run a function only where a permission lets events.amazonaws.com do it.
  const runSchedule = async (prefix: string) => {
    const fn = functionIds.find((id) => id.startsWith(prefix));
    if (!fn) throw new Error(`rehearsal: no function ${prefix}`);
    const rule = ofType(resources, 'AWS::Events::Rule').find(([, r]) =>
      JSON.stringify(r.Properties?.Targets ?? []).includes(`"${fn}"`),
    );
    if (!rule) throw new Error(`template: no schedule targets ${fn}`);
    const ruleArn = `arn:aws:events:${REHEARSAL_REGION}:${REHEARSAL_ACCOUNT}:rule/${physicalId(template, rule[0])}`;
    const allowed = permissions.some(
      (p) => functionIdIn(p.FunctionName) === fn && p.Principal === 'events.amazonaws.com',
    );
    if (!allowed) throw new Error(`EventBridge is not allowed to invoke ${fn} (${ruleArn})`);
    return functions.get(fn)?.invoke({
      version: '0',
      id: crypto.randomUUID(),
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      account: REHEARSAL_ACCOUNT,
      time: new Date().toISOString(),
      region: REHEARSAL_REGION,
      resources: [ruleArn],
      detail: {},
    });
  };

  return {
    url: gateway.url,
    runSchedule,
    dropAsyncInvocations: (count) => {
      lambdaApi.faults.dropAsync += count;
    },
    settleInvocations: async () => {
      while (lambdaApi.pending.size > 0) await Promise.all([...lambdaApi.pending]);
    },
    webSocketUrl: `${gateway.url.replace(/^http/, 'ws')}/${WS_STAGE}`,
    gateway,
    front,
    functions,
    tables,
    access,
    admin,
    sqs,
    async stop() {
      await sqs.close();
      await Promise.all([...functions.values()].map((f) => f.close()));
      await gateway.close();
      await lambdaApi.close();
      admin.destroy();
      await front.close();
      await db.close();
    },
  };
};
