/**
 * Callbridge on AWS: a WebSocket API for the agents' widgets, an HTTP API for the phone system and the
 * widget, DynamoDB for state, one Lambda per entry of the function manifest (lambdas/functions/manifest.ts).
 *
 * Every function, its environment, its exact DynamoDB calls and its triggers come from the manifest; this file
 * only knows how to turn a declaration into resources. `npm test` rehearses the synthesized template offline
 * (test/infra/rehearsal.test.ts): built bundles on Node 24, the template's environment, every SDK call checked
 * against the template's IAM policies.
 *
 * Verify after deploy:
 *   1. npm run accounts -- add --subdomain <sub> --integration-id <id> --client-secret <secret>
 *   2. npm run call -- ringing --url <HttpApiUrl> --subdomain <sub> --secret <whsec_…> --ext 101
 *      → 202 with "sockets": 0 (no widget connected yet)
 *   3. Open Kommo with the widget installed, repeat 2: the pop-up shows, and "sockets" counts the agent's tab.
 */
import {
  CfnCondition,
  type CfnElement,
  CfnOutput,
  CfnParameter,
  Duration,
  Fn,
  RemovalPolicy,
  Stack,
  type StackProps,
  Validations,
} from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  CorsHttpMethod,
  HttpApi,
  HttpMethod,
  HttpStage,
  LogGroupLogDestination,
  WebSocketApi,
  WebSocketStage,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { WebSocketLambdaAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration, WebSocketLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import {
  Alarm,
  ComparisonOperator,
  type IMetric,
  Metric,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { AttributeType, BillingMode, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { Effect, PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { CfnSubscription, Topic } from 'aws-cdk-lib/aws-sns';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { ACCOUNTS_TABLE, KOMMO_TABLE, STATE_TABLE } from '../../lambdas/adapters/table-design';
import {
  ENV_SOURCES,
  type EnvSource,
  FUNCTIONS,
  type FunctionSpec,
  httpRoutes,
  type Manifest,
  READ_ACTIONS,
  type TableId,
  webSocketFunction,
} from '../../lambdas/functions/manifest';
import { PUSH_FAILURE_METRIC } from '../../lambdas/metrics';
import { CORS, KOMMO_ORIGINS, WS_STAGE, WS_THROTTLE } from '../routes';
import { CallbridgeFunction } from './node-function';

export interface CallbridgeStackProps extends StackProps {
  /** The functions to deploy; tests pass a larger one to exercise trigger kinds no function uses yet. */
  manifest?: Manifest;
}

/** `Default` is dropped from logical ids by CDK, so the `default` route function keeps its old id. */
export const constructIdOf = (name: string) =>
  name === 'default' ? 'DefaultRoute' : name.charAt(0).toUpperCase() + name.slice(1);

const FIVE_MINUTES = Duration.minutes(5);

/** The `reservedConcurrency` context value: on unless `false` (as `-c reservedConcurrency=false` passes it). */
export const reservedConcurrencyEnabled = (value: unknown): boolean => {
  if (value === undefined || value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  throw new Error(`context reservedConcurrency: expected true or false, got ${JSON.stringify(value)}`);
};

export class CallbridgeStack extends Stack {
  constructor(scope: Construct, id: string, props: CallbridgeStackProps = {}) {
    super(scope, id, props);
    const manifest: Manifest = props.manifest ?? FUNCTIONS;

    // --- state ---

    const state = new Table(this, 'State', {
      partitionKey: { name: STATE_TABLE.partitionKey, type: AttributeType.STRING },
      sortKey: { name: STATE_TABLE.sortKey, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: STATE_TABLE.ttlAttribute,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // Account secrets get a key of their own: only functions granted this key can read them at all.
    const accountsKey = new Key(this, 'AccountsKey', {
      description: 'Callbridge account secrets (Kommo integration secret keys, webhook signing secrets)',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const accounts = new Table(this, 'Accounts', {
      partitionKey: { name: ACCOUNTS_TABLE.partitionKey, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      encryption: TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: accountsKey,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // Kommo tokens, install codes and the integration's secret key, under the accounts' key too.
    const kommo = new Table(this, 'Kommo', {
      partitionKey: { name: KOMMO_TABLE.partitionKey, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: KOMMO_TABLE.ttlAttribute,
      encryption: TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: accountsKey,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const tables: Record<TableId, { table: Table; key?: Key; index?: string }> = {
      state: { table: state },
      accounts: { table: accounts, key: accountsKey },
      kommo: { table: kommo, key: accountsKey },
    };

    // --- alarms go to a topic CloudWatch can publish to ---

    // SNS encryption needs a customer managed key whose policy lets CloudWatch use it: the AWS managed
    // alias/aws/sns key cannot be shared with CloudWatch, and the accounts key must stay the functions' alone.
    const alarmsKey = new Key(this, 'AlarmsKey', {
      description: 'Callbridge alarm topic',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    alarmsKey.addToResourcePolicy(
      new PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToPublish',
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': this.account } },
      }),
    );
    const alarmTopic = new Topic(this, 'Alarms', { enforceSSL: true, masterKey: alarmsKey });
    const alarmEmail = new CfnParameter(this, 'AlarmEmail', {
      type: 'String',
      default: this.node.tryGetContext('alarmEmail') ?? '',
      allowedPattern: '^$|^[^@\\s]+@[^@\\s]+$',
      description:
        'Where alarms are e-mailed (confirm the subscription e-mail AWS sends). Empty: no subscription.',
    });
    const hasEmail = new CfnCondition(this, 'HasAlarmEmail', {
      expression: Fn.conditionNot(Fn.conditionEquals(alarmEmail.valueAsString, '')),
    });
    new CfnSubscription(this, 'AlarmEmailSubscription', {
      topicArn: alarmTopic.topicArn,
      protocol: 'email',
      endpoint: alarmEmail.valueAsString,
    }).cfnOptions.condition = hasEmail;
    const alarm = (alarmId: string, metric: IMetric, description: string, threshold = 1) =>
      new Alarm(this, alarmId, {
        metric,
        threshold,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      }).addAlarmAction(new SnsAction(alarmTopic));

    for (const [tableId, { table, index }] of Object.entries(tables)) {
      const name = constructIdOf(tableId);
      for (const metricName of ['ReadThrottleEvents', 'WriteThrottleEvents']) {
        const base = { namespace: 'AWS/DynamoDB', metricName, statistic: 'Sum', period: FIVE_MINUTES };
        alarm(
          `${name}${metricName}`,
          new Metric({ ...base, dimensionsMap: { TableName: table.tableName } }),
          `${tableId} table: ${metricName}`,
        );
        if (index) {
          alarm(
            `${name}Index${metricName}`,
            new Metric({
              ...base,
              dimensionsMap: { TableName: table.tableName, GlobalSecondaryIndexName: index },
            }),
            `${tableId} table, index ${index}: ${metricName}`,
          );
        }
      }
    }

    // --- queues declared by queue triggers ---

    const queues = new Map<string, Queue>();
    for (const spec of Object.values(manifest)) {
      for (const trigger of spec.triggers) {
        if (trigger.kind !== 'queue') continue;
        const qid = constructIdOf(trigger.queue);
        const deadLetters = new Queue(this, `${qid}DeadLetters`, {
          encryption: QueueEncryption.SQS_MANAGED,
          enforceSSL: true,
          retentionPeriod: Duration.days(14),
        });
        const queue = new Queue(this, `${qid}Queue`, {
          encryption: QueueEncryption.SQS_MANAGED,
          enforceSSL: true,
          retentionPeriod: Duration.days(4),
          visibilityTimeout: Duration.seconds(spec.timeoutSeconds * 6),
          deadLetterQueue: { queue: deadLetters, maxReceiveCount: trigger.maxReceives },
        });
        queues.set(trigger.queue, queue);
        alarm(
          `${qid}QueueAge`,
          queue.metricApproximateAgeOfOldestMessage({ period: FIVE_MINUTES, statistic: 'Maximum' }),
          `${trigger.queue} queue: oldest message older than ${trigger.maxAgeAlarmSeconds} s`,
          trigger.maxAgeAlarmSeconds,
        );
        alarm(
          `${qid}DeadLettersVisible`,
          deadLetters.metricApproximateNumberOfMessagesVisible({
            period: FIVE_MINUTES,
            statistic: 'Maximum',
          }),
          `${trigger.queue}: messages gave up and sit in the dead-letter queue`,
        );
      }
    }

    // --- functions, with exactly the access the manifest declares ---

    // Reserved concurrency keeps the authorizer, $connect and the webhook running while another tenant floods
    // the rest; but a new AWS account's concurrency quota is often 10, and a deploy reserving more than it
    // allows fails. `-c reservedConcurrency=false` deploys without any reservation.
    const reserve = reservedConcurrencyEnabled(this.node.tryGetContext('reservedConcurrency'));
    const fns = new Map<string, CallbridgeFunction>();
    for (const [name, declared] of Object.entries(manifest)) {
      const spec = reserve ? declared : { ...declared, reservedConcurrency: undefined };
      const fn = new CallbridgeFunction(this, constructIdOf(name), spec);
      fns.set(name, fn);
      this.grantDeclaredAccess(fn, spec, tables, queues);
      alarm(`${name}Errors`, fn.fn.metricErrors({ period: FIVE_MINUTES }), `${name} function errors`);
      alarm(
        `${name}Throttles`,
        fn.fn.metricThrottles({ period: FIVE_MINUTES }),
        `${name} function throttled`,
      );
      if (spec.manageConnections) {
        // Push failures are caught so one dead browser cannot fail a call for the others; the metric is how
        // they still reach an alarm (EMF, written by lambdas/metrics.ts).
        alarm(
          `${name}PushFailures`,
          new Metric({
            namespace: PUSH_FAILURE_METRIC.namespace,
            metricName: PUSH_FAILURE_METRIC.name,
            dimensionsMap: { service: name },
            statistic: 'Sum',
            period: FIVE_MINUTES,
          }),
          `${name}: pushes to sockets failing (throttled, timed out or refused by API Gateway)`,
          PUSH_FAILURE_METRIC.alarmThreshold,
        );
      }
    }
    const fnOf = (name: string): CallbridgeFunction => {
      const fn = fns.get(name);
      if (!fn) throw new Error(`manifest: no function ${name}`);
      return fn;
    };

    // --- WebSocket API ---

    const authorizerName = webSocketFunction('websocket-authorizer', manifest);
    const authorizerTrigger = manifest[authorizerName]?.triggers.find(
      (t) => t.kind === 'websocket-authorizer',
    );
    const authorizer = new WebSocketLambdaAuthorizer('TicketAuthorizer', fnOf(authorizerName).fn, {
      identitySource: [
        ...(authorizerTrigger?.kind === 'websocket-authorizer' ? authorizerTrigger.identitySource : []),
      ],
    });
    const wsIntegration = (route: '$connect' | '$disconnect' | '$default', id: string) =>
      new WebSocketLambdaIntegration(id, fnOf(webSocketFunction(route, manifest)).fn);
    const ws = new WebSocketApi(this, 'Sockets', {
      apiName: `${this.stackName}-sockets`,
      connectRouteOptions: { integration: wsIntegration('$connect', 'ConnectIntegration'), authorizer },
      disconnectRouteOptions: { integration: wsIntegration('$disconnect', 'DisconnectIntegration') },
      defaultRouteOptions: { integration: wsIntegration('$default', 'DefaultIntegration') },
    });
    const wsLogs = new LogGroup(this, 'SocketsAccessLogs', {
      retention: RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const wsStage = new WebSocketStage(this, 'SocketsStage', {
      webSocketApi: ws,
      stageName: WS_STAGE,
      autoDeploy: true,
      throttle: { ...WS_THROTTLE },
      accessLogSettings: {
        destination: new LogGroupLogDestination(wsLogs),
        // No query string here: it carries the ticket.
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            connectionId: '$context.connectionId',
            routeKey: '$context.routeKey',
            eventType: '$context.eventType',
            status: '$context.status',
            error: '$context.error.message',
            integrationError: '$context.integrationErrorMessage',
            authorizerError: '$context.authorizer.error',
            principal: '$context.authorizer.principalId',
            ip: '$context.identity.sourceIp',
            time: '$context.requestTimeEpoch',
          }),
        ),
      },
    });
    for (const [name, spec] of Object.entries(manifest)) {
      if (spec.manageConnections) wsStage.grantManagementApiAccess(fnOf(name).fn);
    }

    // --- HTTP API ---

    const http = new HttpApi(this, 'Api', {
      apiName: `${this.stackName}-api`,
      createDefaultStage: false,
      corsPreflight: {
        allowOrigins: [...KOMMO_ORIGINS],
        allowHeaders: [...CORS.allowHeaders],
        allowMethods: CORS.allowMethods.map((m) => CorsHttpMethod[m]),
        maxAge: Duration.seconds(CORS.maxAgeSeconds),
      },
    });
    const httpLogs = new LogGroup(this, 'ApiAccessLogs', {
      retention: RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const httpStage = new HttpStage(this, 'ApiStage', {
      httpApi: http,
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: 1000, burstLimit: 2000 },
      accessLogSettings: {
        destination: new LogGroupLogDestination(httpLogs),
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            routeKey: '$context.routeKey',
            status: '$context.status',
            latency: '$context.responseLatency',
            integrationError: '$context.integrationErrorMessage',
            ip: '$context.identity.sourceIp',
            time: '$context.requestTimeEpoch',
          }),
        ),
      },
    });
    const integrations = new Map<string, HttpLambdaIntegration>();
    for (const route of httpRoutes(manifest)) {
      let integration = integrations.get(route.fn);
      if (!integration) {
        integration = new HttpLambdaIntegration(`${route.fn}Integration`, fnOf(route.fn).fn);
        integrations.set(route.fn, integration);
      }
      http.addRoutes({ path: route.path, methods: [HttpMethod[route.method]], integration });
    }
    alarm('Api5xx', http.metricServerError({ period: FIVE_MINUTES }), 'HTTP API answered 5xx');
    for (const metricName of ['IntegrationError', 'ExecutionError']) {
      alarm(
        `Sockets${metricName}`,
        new Metric({
          namespace: 'AWS/ApiGateway',
          metricName,
          dimensionsMap: { ApiId: ws.apiId, Stage: WS_STAGE },
          statistic: 'Sum',
          period: FIVE_MINUTES,
        }),
        `WebSocket API ${metricName}`,
      );
    }

    // --- other triggers, and each function's environment: only the variables it declares ---

    for (const [name, spec] of Object.entries(manifest)) {
      const fn = fnOf(name).fn;
      for (const target of spec.invokes ?? []) {
        const invoked = fnOf(target).fn;
        invoked.grantInvoke(fn);
        const policy = fn.role?.node.tryFindChild('DefaultPolicy');
        if (policy) {
          Validations.of(policy).acknowledge({
            id: `AwsSolutions-IAM5[Resource::<${this.getLogicalId(invoked.node.defaultChild as CfnElement)}.Arn>:*]`,
            reason:
              'fn.grantInvoke() covers the function’s versions and aliases; scoped to that one function.',
          });
        }
      }
      for (const trigger of spec.triggers) {
        if (trigger.kind === 'schedule') {
          new Rule(this, `${constructIdOf(name)}Schedule`, {
            schedule: Schedule.rate(Duration.minutes(trigger.everyMinutes)),
            targets: [new LambdaFunction(fn)],
          });
        } else if (trigger.kind === 'queue') {
          const queue = queues.get(trigger.queue);
          if (queue) {
            fn.addEventSource(
              new SqsEventSource(queue, {
                batchSize: trigger.batchSize,
                reportBatchItemFailures: true,
                // Lambda takes more than 10 messages a batch only with a batching window.
                ...(trigger.batchSize > 10 ? { maxBatchingWindow: Duration.seconds(2) } : {}),
              }),
            );
          }
        }
      }
      for (const envName of spec.env) {
        const source = ENV_SOURCES[envName as keyof typeof ENV_SOURCES] as EnvSource;
        const value =
          source.kind === 'table-name'
            ? tables[source.table].table.tableName
            : source.kind === 'websocket'
              ? source.url === 'callback'
                ? wsStage.callbackUrl
                : wsStage.url
              : source.kind === 'function-name'
                ? fns.get(source.fn)?.fn.functionName
                : queues.get(source.queue)?.queueUrl;
        if (value === undefined) throw new Error(`manifest: ${name} reads ${envName}, which has no source`);
        fn.addEnvironment(envName, value);
      }
    }

    // --- outputs (read by `npm run accounts` and the widget build) ---

    new CfnOutput(this, 'WebSocketUrl', { value: wsStage.url });
    new CfnOutput(this, 'HttpApiUrl', { value: httpStage.url });
    new CfnOutput(this, 'TableName', { value: state.tableName });
    new CfnOutput(this, 'AccountsTableName', { value: accounts.tableName });
    new CfnOutput(this, 'KommoTableName', { value: kommo.tableName });
    new CfnOutput(this, 'Region', { value: this.region });
    new CfnOutput(this, 'AlarmTopicArn', { value: alarmTopic.topicArn });

    this.acknowledgeFindings(ws, http, [...fns.values()]);
  }

  /**
   * One statement per table (and per index) with exactly the declared actions, and the table key's use for
   * encrypted tables: reads need kms:Decrypt, writes also kms:GenerateDataKey (DynamoDB uses a customer managed
   * key on the caller's behalf, with the caller's permissions).
   */
  private grantDeclaredAccess(
    fn: CallbridgeFunction,
    spec: FunctionSpec,
    tables: Record<TableId, { table: Table; key?: Key; index?: string }>,
    queues: Map<string, Queue>,
  ) {
    for (const access of spec.access) {
      const { table, key, index } = tables[access.table];
      if (access.actions.length > 0) {
        fn.fn.addToRolePolicy(
          new PolicyStatement({
            effect: Effect.ALLOW,
            actions: access.actions.map((a) => `dynamodb:${a}`),
            resources: [table.tableArn],
          }),
        );
      }
      if (access.indexActions && access.indexActions.length > 0) {
        if (!index) throw new Error(`manifest: the ${access.table} table has no index`);
        fn.fn.addToRolePolicy(
          new PolicyStatement({
            effect: Effect.ALLOW,
            actions: access.indexActions.map((a) => `dynamodb:${a}`),
            resources: [`${table.tableArn}/index/${index}`],
          }),
        );
      }
      if (key) {
        const writes = access.actions.some((a) => !READ_ACTIONS.includes(a));
        key.grant(fn.fn, 'kms:Decrypt', ...(writes ? ['kms:GenerateDataKey'] : []));
      }
    }
    for (const queueName of spec.sendsTo ?? []) {
      const queue = queues.get(queueName);
      if (!queue) throw new Error(`manifest: no queue ${queueName}`);
      queue.grantSendMessages(fn.fn);
    }
  }

  private acknowledgeFindings(ws: WebSocketApi, http: HttpApi, fns: CallbridgeFunction[]) {
    const logicalId = (construct: Construct) => this.getLogicalId(construct.node.defaultChild as CfnElement);
    Validations.of(ws).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason:
        'API Gateway allows an authorizer on $connect only; $disconnect and $default run on a connection that the ticket authorizer already admitted.',
    });
    Validations.of(http).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason:
        'Each route authenticates in its handler: webhooks by Standard Webhooks HMAC per account, provider webhooks by that provider’s own signature with per-account credentials, /tickets and /agents by a Kommo disposable token (HS256 JWT with the integration secret).',
    });
    for (const fn of fns) {
      const policy = fn.fn.role?.node.tryFindChild('DefaultPolicy');
      if (!policy) continue;
      Validations.of(policy).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<${logicalId(ws)}>/${WS_STAGE}/*/@connections/*]`,
        reason:
          'stage.grantManagementApiAccess(): connection ids exist only at run time; scoped to this API and stage.',
      });
    }
  }
}
