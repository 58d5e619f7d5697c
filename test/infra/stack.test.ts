import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { CallbridgeStack, constructIdOf } from '../../infra/aws/stack';
import { allowedCalls, FUNCTIONS, type Manifest } from '../../lambdas/functions/manifest';

// Bundling is skipped here (it is exercised once, below); the template is what these tests read.
const synth = (context: Record<string, unknown> = {}) => {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [], ...context } });
  const stack = new CallbridgeStack(app, 'Test');
  return { app, stack, template: Template.fromStack(stack) };
};

let template: Template;
beforeAll(() => {
  template = synth().template;
});

describe('CallbridgeStack', () => {
  it('reserves concurrency for the authorizer, $connect and the webhook, unless -c reservedConcurrency=false', () => {
    const reserved = (t: Template) =>
      Object.values(t.findResources('AWS::Lambda::Function'))
        .map((r) => (r.Properties as { ReservedConcurrentExecutions?: number }).ReservedConcurrentExecutions)
        .filter((n) => n !== undefined)
        .sort((a, b) => Number(a) - Number(b));
    const declared = Object.values(FUNCTIONS as Manifest)
      .flatMap((f) => (f.reservedConcurrency ? [f.reservedConcurrency] : []))
      .sort((a, b) => a - b);
    // What the README promises: room for calls whatever another tenant does, and one worker each for the
    // Kommo functions, so one limiter per deployment holds the traffic towards Kommo under its 7 requests/s.
    expect(
      Object.fromEntries(
        Object.entries(FUNCTIONS as Manifest).flatMap(([name, f]) =>
          f.reservedConcurrency ? [[name, f.reservedConcurrency]] : [],
        ),
      ),
    ).toEqual({
      webhook: 50,
      authorizer: 20,
      connect: 20,
      kommoInstall: 1,
      kommoMaintenance: 1,
      crmWorker: 1,
    });
    expect(reserved(template)).toEqual(declared);
    expect(reserved(synth({ reservedConcurrency: 'false' }).template)).toEqual([]);
    expect(reserved(synth({ reservedConcurrency: false }).template)).toEqual([]);
    expect(() => synth({ reservedConcurrency: 'no' })).toThrow(/reservedConcurrency/);
  });

  it('has the WebSocket routes with the ticket authorizer on $connect only', () => {
    for (const key of ['$connect', '$disconnect', '$default']) {
      template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: key });
    }
    template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      AuthorizerType: 'REQUEST',
      IdentitySource: ['route.request.querystring.ticket'],
    });
    template.hasResourceProperties('AWS::ApiGatewayV2::Route', {
      RouteKey: '$connect',
      AuthorizationType: 'CUSTOM',
    });
    template.hasResourceProperties('AWS::ApiGatewayV2::Route', {
      RouteKey: '$default',
      AuthorizationType: 'NONE',
    });
  });

  it('has the HTTP routes and CORS for Kommo origins with the X-Auth-Token header', () => {
    for (const key of ['POST /webhooks/{subdomain}', 'POST /tickets', 'GET /agents', 'PUT /agents']) {
      template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: key });
    }
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      ProtocolType: 'HTTP',
      CorsConfiguration: Match.objectLike({
        AllowOrigins: ['https://*.kommo.com', 'https://*.amocrm.ru', 'https://*.amocrm.com'],
        AllowHeaders: Match.arrayWith(['x-auth-token']),
      }),
    });
  });

  it('keeps state in on-demand tables with TTL and point-in-time recovery, retained on delete', () => {
    template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        BillingMode: 'PAY_PER_REQUEST',
        TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        // No index: every read that decides a delivery is by key and strongly consistent.
        GlobalSecondaryIndexes: Match.absent(),
      }),
    });
    template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        KeySchema: [{ AttributeName: 'subdomain', KeyType: 'HASH' }],
        SSESpecification: Match.objectLike({ SSEEnabled: true, SSEType: 'KMS' }),
      }),
    });
  });

  it('runs every handler on arm64 Node.js 24 with source maps', () => {
    const fns = template.findResources('AWS::Lambda::Function');
    expect(Object.keys(fns)).toHaveLength(Object.keys(FUNCTIONS).length);
    template.allResourcesProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Environment: { Variables: Match.objectLike({ NODE_OPTIONS: '--enable-source-maps' }) },
    });
  });

  it('gives the accounts table (and its key) only to the functions that verify secrets', () => {
    const policies = template.findResources('AWS::IAM::Policy');
    const readers = Object.entries(policies)
      .filter(([, p]) => JSON.stringify(p).includes('Accounts'))
      .map(([id]) => id.replace(/Fn.*$/, ''));
    // The Kommo functions read the integration's secret key and tokens, under the same KMS key; the
    // redirect function only writes codes, but those are secrets too.
    // The CRM functions read the account (its Kommo account id; the settings verify the admin's token).
    expect(readers.sort()).toEqual([
      'Agents',
      'CrmSettings',
      'CrmWorker',
      'KommoInstall',
      'KommoMaintenance',
      'OauthDisabled',
      'OauthRedirect',
      'ProviderWebhook',
      'Tickets',
      'Webhook',
      'WebhookSettings',
    ]);
  });

  it('lets only the webhook functions, $connect (closing sockets over the cap), $default and the disable hook use @connections', () => {
    const policies = template.findResources('AWS::IAM::Policy');
    const posters = Object.entries(policies)
      .filter(([, p]) => JSON.stringify(p).includes('execute-api:ManageConnections'))
      .map(([id]) => id.replace(/Fn.*$/, ''));
    expect(posters.sort()).toEqual([
      'Connect',
      'DefaultRoute',
      'OauthDisabled',
      'ProviderWebhook',
      'Webhook',
    ]);
  });

  it('logs access on both stages and retains function logs', () => {
    template.resourcePropertiesCountIs(
      'AWS::ApiGatewayV2::Stage',
      { AccessLogSettings: Match.objectLike({ DestinationArn: Match.anyValue() }) },
      2,
    );
    template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
  });

  it('keeps the ticket out of the WebSocket access log', () => {
    const stages = template.findResources('AWS::ApiGatewayV2::Stage');
    for (const stage of Object.values(stages)) {
      expect(JSON.stringify(stage)).not.toMatch(/querystring|ticket/i);
    }
  });

  it('grants each function exactly the DynamoDB calls its manifest entry declares, and Scan to none', () => {
    const policies = Object.entries(template.findResources('AWS::IAM::Policy'));
    for (const [name, spec] of Object.entries(FUNCTIONS)) {
      const policy = policies.find(([id]) => id.startsWith(`${constructIdOf(name)}Fn`));
      const statements = (policy?.[1].Properties.PolicyDocument.Statement ?? []) as {
        Action: string | string[];
        Resource: unknown;
      }[];
      const granted = (resourceMatch: (r: string) => boolean) =>
        statements
          .filter((st) => resourceMatch(JSON.stringify(st.Resource)))
          .flatMap((st) => [st.Action].flat())
          .filter((a) => a.startsWith('dynamodb:'))
          .sort();
      const onIndex = (r: string) => r.includes('/index/');
      const onTable = (logical: string) => (r: string) => r.includes(logical) && !onIndex(r);
      const declared = (table: 'state' | 'accounts' | 'kommo', index: boolean) =>
        [...allowedCalls(spec, table, index)].map((a) => `dynamodb:${a}`).sort();
      expect(granted(onTable('State')), `${name} on the state table`).toEqual(declared('state', false));
      expect(granted(onIndex), `${name} on the account index`).toEqual(declared('state', true));
      expect(granted(onTable('Accounts')), `${name} on the accounts table`).toEqual(
        declared('accounts', false),
      );
    }
    // Scan only where a whole table is swept on purpose: the hourly Kommo maintenance over its own table.
    const scanners = Object.entries(template.findResources('AWS::IAM::Policy'))
      .filter(([, p]) => JSON.stringify(p).includes('dynamodb:Scan'))
      .map(([id]) => id.replace(/Fn.*$/, ''));
    expect(scanners).toEqual(['KommoMaintenance']);
    // The finding that started this: a widget's ticket request reads the account's latest seq.
    expect(allowedCalls(FUNCTIONS.tickets, 'state', false).has('GetItem')).toBe(true);
  });

  it('sends alarms to a topic whose key CloudWatch may use, with an optional e-mail subscription', () => {
    const keys = template.findResources('AWS::KMS::Key');
    const alarmsKey = Object.entries(keys).find(([id]) => id.startsWith('AlarmsKey'));
    expect(JSON.stringify(alarmsKey?.[1].Properties.KeyPolicy)).toContain('cloudwatch.amazonaws.com');
    template.hasResourceProperties('AWS::SNS::Topic', {
      KmsMasterKeyId: { 'Fn::GetAtt': [alarmsKey?.[0], 'Arn'] },
    });
    template.hasParameter('AlarmEmail', { Type: 'String' });
    template.hasResource('AWS::SNS::Subscription', {
      Condition: 'HasAlarmEmail',
      Properties: Match.objectLike({ Protocol: 'email', Endpoint: { Ref: 'AlarmEmail' } }),
    });
  });

  it('alarms on DynamoDB throttling of both tables, and on push failures', () => {
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((a) => a.Properties);
    const throttles = alarms.filter((a) => /ThrottleEvents$/.test(a.MetricName));
    // Three tables × read/write (an index, were there one, would get its own pair).
    expect(throttles).toHaveLength(6);
    const pushFailures = alarms.filter((a) => a.MetricName === 'PushFailures');
    expect(pushFailures.map((a) => a.Dimensions[0].Value).sort()).toEqual([
      'connect',
      'default',
      'oauthDisabled',
      'providerWebhook',
      'webhook',
    ]);
  });

  it('turns queue and schedule triggers into a queue with a dead-letter queue, age alarms and a rule', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const manifest: Manifest = {
      ...FUNCTIONS,
      worker: {
        entry: 'connect',
        description: 'test: a queue consumer',
        memoryMb: 256,
        timeoutSeconds: 30,
        env: [],
        access: [],
        manageConnections: false,
        triggers: [{ kind: 'queue', queue: 'jobs', batchSize: 10, maxReceives: 5, maxAgeAlarmSeconds: 600 }],
      },
      sweeper: {
        entry: 'connect',
        description: 'test: a schedule',
        memoryMb: 256,
        timeoutSeconds: 30,
        env: [],
        access: [],
        manageConnections: false,
        sendsTo: ['jobs'],
        triggers: [{ kind: 'schedule', everyMinutes: 60 }],
      },
    };
    const t = Template.fromStack(new CallbridgeStack(app, 'Queues', { manifest }));
    // These two, and the CRM queue with its own.
    t.resourceCountIs('AWS::SQS::Queue', 4);
    t.hasResourceProperties('AWS::SQS::Queue', {
      RedrivePolicy: Match.objectLike({ maxReceiveCount: 5 }),
      VisibilityTimeout: 180,
    });
    t.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      BatchSize: 10,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateAgeOfOldestMessage',
      Threshold: 600,
    });
    // More than 10 messages a batch only with a batching window (the CRM worker takes 50 calls at a time).
    t.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      BatchSize: 50,
      MaximumBatchingWindowInSeconds: 2,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    t.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(1 hour)' });
    expect(JSON.stringify(t.findResources('AWS::IAM::Policy'))).toContain('sqs:SendMessage');
  });

  it('alarms on function errors and throttles and on API 5xx', () => {
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')).map(
      (a) => a.Properties.MetricName,
    );
    expect(alarms.filter((m) => m === 'Errors')).toHaveLength(Object.keys(FUNCTIONS).length);
    expect(alarms.filter((m) => m === 'Throttles')).toHaveLength(Object.keys(FUNCTIONS).length);
    expect(alarms).toEqual(expect.arrayContaining(['5xx', 'IntegrationError', 'ExecutionError']));
  });

  it('has the Kommo routes, an encrypted Kommo table and the hourly maintenance schedule', () => {
    for (const key of [
      'GET /oauth/kommo',
      'GET /oauth/kommo/disabled',
      'GET /settings/webhook',
      'POST /settings/webhook',
    ]) {
      template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: key });
    }
    template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
        SSESpecification: Match.objectLike({ SSEEnabled: true, SSEType: 'KMS' }),
      }),
    });
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(1 hour)' });
    // The install and maintenance functions run one container each, under the one limiter.
    // The install, the maintenance and the CRM worker: one container each towards Kommo.
    template.resourcePropertiesCountIs('AWS::Lambda::Function', { ReservedConcurrentExecutions: 1 }, 3);
    const invokers = Object.entries(template.findResources('AWS::IAM::Policy'))
      .filter(([, p]) => JSON.stringify(p).includes('lambda:InvokeFunction'))
      .map(([id]) => id.replace(/Fn.*$/, ''));
    expect(invokers).toEqual(['OauthRedirect']);
  });

  it('outputs what the CLI and the widget build read', () => {
    for (const name of ['WebSocketUrl', 'HttpApiUrl', 'TableName', 'AccountsTableName', 'KommoTableName'])
      template.hasOutput(name, {});
  });

  it('puts no secret into the template', () => {
    expect(JSON.stringify(template.toJSON())).not.toMatch(/whsec_|client_?secret|CLIENT_SECRET/i);
  });
});

describe('cdk-nag AwsSolutions', () => {
  it('finds nothing unacknowledged in the stack', () => {
    const { app } = synth();
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    expect(() => app.synth()).not.toThrow();
  });

  it('does fail synth on a real finding (the check is live)', () => {
    const app = new App();
    new Topic(new Stack(app, 'Bad'), 'Plain');
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    expect(() => app.synth()).toThrow();
  });
});

describe('bundling', () => {
  it('produces an ESM bundle that loads in a fresh Node process', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': ['**'] } });
    const stack = new CallbridgeStack(app, 'Bundled');
    const assembly = app.synth();
    const template = Template.fromStack(stack).toJSON() as {
      Resources: Record<string, { Type: string; Properties: { Code?: { S3Key?: string } } }>;
    };
    const webhook = Object.entries(template.Resources).find(
      ([id, r]) => r.Type === 'AWS::Lambda::Function' && id.startsWith('WebhookFn'),
    );
    // The staged asset directory is named after the hash the S3 key carries.
    const hash = webhook?.[1].Properties.Code?.S3Key?.replace(/\.zip$/, '') ?? 'missing';
    const assetDir = join(assembly.directory, `asset.${hash}`);
    const entry = join(assetDir, 'index.mjs');
    expect(existsSync(entry)).toBe(true);
    expect(readFileSync(entry, 'utf8')).toContain('createRequire');
    expect(existsSync(`${entry}.map`)).toBe(true);
    // Credentials come from the environment Lambda sets: none of the default chain's other providers (and the
    // SSO/STS clients they carry) is bundled.
    const sources = (JSON.parse(readFileSync(`${entry}.map`, 'utf8')) as { sources: string[] }).sources;
    expect(sources.some((s) => s.includes('credential-provider-env'))).toBe(true);
    expect(
      sources.filter((s) =>
        /credential-provider-(node|ini|sso|process|web-identity|http)|nested-clients|credential-provider-imds/.test(
          s,
        ),
      ),
    ).toEqual([]);
    const out = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const m = await import(${JSON.stringify(entry)}); console.log(typeof m.handler);`,
      ],
      {
        env: {
          PATH: process.env.PATH,
          STATE_TABLE: 't',
          ACCOUNTS_TABLE: 'a',
          WS_CALLBACK_URL: 'https://example.invalid/prod',
          CRM_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/crm',
          AWS_REGION: 'eu-west-1',
        },
      },
    );
    expect(String(out).trim()).toBe('function');
  }, 120_000);

  it('fails at start, naming the missing variable', () => {
    const run = () =>
      execFileSync(
        process.execPath,
        ['--import', 'tsx', '-e', "await import('./lambdas/functions/webhook.ts')"],
        {
          env: { PATH: process.env.PATH, AWS_REGION: 'eu-west-1' },
          stdio: 'pipe',
        },
      );
    expect(run).toThrow(/missing environment variable\(s\): STATE_TABLE, ACCOUNTS_TABLE, WS_CALLBACK_URL/);
  });
});
