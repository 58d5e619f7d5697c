/**
 * Callbridge on AWS: a WebSocket API for the agents' widgets, an HTTP API for the phone system and the
 * widget, DynamoDB for state, one Lambda per handler.
 *
 * Verify after deploy:
 *   1. npm run accounts -- add --subdomain <sub> --integration-id <id> --client-secret <secret>
 *   2. npm run call -- ringing --url <HttpApiUrl> --subdomain <sub> --secret <whsec_…> --ext 101
 *      → 202 with "sockets": 0 (no widget connected yet)
 *   3. Open Kommo with the widget installed, repeat 2: the pop-up shows, and "sockets" counts the agent's tab.
 */
import {
  type CfnElement,
  CfnOutput,
  Duration,
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
import { Alarm, ComparisonOperator, Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { AttributeType, BillingMode, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Topic } from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { ACCOUNTS_TABLE, KOMMO_TABLE, STATE_TABLE } from '../../lambdas/adapters/table-design';
import { CORS, HTTP_ROUTES, type HttpRouteName, KOMMO_ORIGINS, WS_STAGE, WS_THROTTLE } from '../routes';
import { CallbridgeFunction } from './node-function';

export class CallbridgeStack extends Stack {
  constructor(scope: Construct, id: string, props: StackProps = {}) {
    super(scope, id, props);

    // --- state ---

    const state = new Table(this, 'State', {
      partitionKey: { name: STATE_TABLE.partitionKey, type: AttributeType.STRING },
      sortKey: { name: STATE_TABLE.sortKey, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: STATE_TABLE.ttlAttribute,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy: RemovalPolicy.RETAIN,
    });
    state.addGlobalSecondaryIndex({
      indexName: STATE_TABLE.accountIndex.name,
      partitionKey: { name: STATE_TABLE.accountIndex.partitionKey, type: AttributeType.STRING },
      sortKey: { name: STATE_TABLE.accountIndex.sortKey, type: AttributeType.STRING },
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

    // --- functions ---

    const tableEnv = { STATE_TABLE: state.tableName };
    const accountsEnv = { ACCOUNTS_TABLE: accounts.tableName };
    const fns = {
      webhook: new CallbridgeFunction(this, 'Webhook', {
        entry: 'webhook',
        memorySize: 512,
        timeout: Duration.seconds(25),
        environment: { ...tableEnv, ...accountsEnv },
      }),
      tickets: new CallbridgeFunction(this, 'Tickets', {
        entry: 'tickets',
        environment: { ...tableEnv, ...accountsEnv },
      }),
      agents: new CallbridgeFunction(this, 'Agents', {
        entry: 'agents',
        environment: { ...tableEnv, ...accountsEnv },
      }),
      authorizer: new CallbridgeFunction(this, 'Authorizer', { entry: 'authorizer', environment: tableEnv }),
      connect: new CallbridgeFunction(this, 'Connect', { entry: 'connect', environment: tableEnv }),
      disconnect: new CallbridgeFunction(this, 'Disconnect', { entry: 'disconnect', environment: tableEnv }),
      default: new CallbridgeFunction(this, 'DefaultRoute', {
        entry: 'default',
        timeout: Duration.seconds(25),
        environment: tableEnv,
      }),
    };

    accounts.grantReadData(fns.webhook.fn);
    accounts.grantReadData(fns.tickets.fn);
    accounts.grantReadData(fns.agents.fn);
    state.grantReadWriteData(fns.webhook.fn);
    state.grantWriteData(fns.tickets.fn);
    state.grantReadWriteData(fns.agents.fn);
    state.grantWriteData(fns.authorizer.fn);
    state.grantWriteData(fns.connect.fn);
    state.grantWriteData(fns.disconnect.fn);
    state.grantReadWriteData(fns.default.fn);

    // --- WebSocket API ---

    const authorizer = new WebSocketLambdaAuthorizer('TicketAuthorizer', fns.authorizer.fn, {
      // Browsers cannot send headers on a WebSocket; the single-use ticket travels in the query string.
      identitySource: ['route.request.querystring.ticket'],
    });
    const ws = new WebSocketApi(this, 'Sockets', {
      apiName: `${this.stackName}-sockets`,
      connectRouteOptions: {
        integration: new WebSocketLambdaIntegration('ConnectIntegration', fns.connect.fn),
        authorizer,
      },
      disconnectRouteOptions: {
        integration: new WebSocketLambdaIntegration('DisconnectIntegration', fns.disconnect.fn),
      },
      defaultRouteOptions: {
        integration: new WebSocketLambdaIntegration('DefaultIntegration', fns.default.fn),
      },
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
    wsStage.grantManagementApiAccess(fns.webhook.fn);
    wsStage.grantManagementApiAccess(fns.default.fn);
    for (const fn of [fns.webhook, fns.default]) fn.fn.addEnvironment('WS_CALLBACK_URL', wsStage.callbackUrl);
    fns.tickets.fn.addEnvironment('WS_URL', wsStage.url);

    // ===== BEGIN Kommo integration (issue 12): OAuth install, tokens, disable hook, settings sync =====
    // Tokens, codes and the integration's secret key sit in their own table under the accounts' KMS key.
    const kommoTable = new Table(this, 'Kommo', {
      partitionKey: { name: KOMMO_TABLE.partitionKey, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: KOMMO_TABLE.ttlAttribute,
      encryption: TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: accountsKey,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const kommoEnv = { KOMMO_TABLE: kommoTable.tableName, ...accountsEnv, ...tableEnv };
    const kommoFns = {
      kommoInstall: new CallbridgeFunction(this, 'KommoInstall', {
        entry: 'kommo-install',
        // Exchange, account and settings, each with retries; the code's lease (60 s) lets a rerun take over.
        timeout: Duration.minutes(2),
        environment: kommoEnv,
      }),
      kommoMaintenance: new CallbridgeFunction(this, 'KommoMaintenance', {
        entry: 'kommo-maintenance',
        timeout: Duration.minutes(10),
        environment: kommoEnv,
      }),
      oauthRedirect: new CallbridgeFunction(this, 'OAuthRedirect', {
        entry: 'oauth-redirect',
        environment: { KOMMO_TABLE: kommoTable.tableName },
      }),
      oauthDisabled: new CallbridgeFunction(this, 'OAuthDisabled', {
        entry: 'oauth-disabled',
        timeout: Duration.seconds(25),
        environment: { ...kommoEnv, WS_CALLBACK_URL: wsStage.callbackUrl },
      }),
      webhookSettings: new CallbridgeFunction(this, 'WebhookSettings', {
        entry: 'webhook-settings',
        environment: accountsEnv,
      }),
    };
    // One container each for the two functions that call Kommo in bulk: a flood of forged codes at the public
    // Redirect URL then queues up (codes older than 20 minutes are dropped unsent) instead of fanning out
    // into more requests a second than Kommo allows, which would get this deployment's IP blocked.
    for (const fn of [kommoFns.kommoInstall, kommoFns.kommoMaintenance]) {
      (fn.fn.node.defaultChild as CfnFunction).reservedConcurrentExecutions = 1;
    }
    kommoFns.oauthRedirect.fn.addEnvironment('INSTALL_FUNCTION_NAME', kommoFns.kommoInstall.fn.functionName);
    kommoFns.kommoInstall.fn.grantInvoke(kommoFns.oauthRedirect.fn);
    kommoTable.grantReadWriteData(kommoFns.oauthRedirect.fn);
    for (const fn of [kommoFns.kommoInstall, kommoFns.kommoMaintenance, kommoFns.oauthDisabled, fns.agents]) {
      kommoTable.grantReadWriteData(fn.fn);
      accounts.grantReadWriteData(fn.fn);
      state.grantReadWriteData(fn.fn);
    }
    accounts.grantReadWriteData(kommoFns.webhookSettings.fn);
    wsStage.grantManagementApiAccess(kommoFns.oauthDisabled.fn);
    fns.agents.fn.addEnvironment('KOMMO_TABLE', kommoTable.tableName);
    // Hourly: refresh before the 24 h expiry, sync settings, sweep lost exchanges, purge after 30 days.
    // A run ends within 10 minutes, so runs never overlap: the bulk of the Kommo traffic is one container's,
    // under its limiter (6/s). Install and admin saves add a few requests each.
    new Rule(this, 'KommoMaintenanceSchedule', {
      schedule: Schedule.rate(Duration.hours(1)),
      targets: [new LambdaFunction(kommoFns.kommoMaintenance.fn, { retryAttempts: 0 })],
    });
    new CfnOutput(this, 'KommoTableName', { value: kommoTable.tableName });
    // ===== END Kommo integration =====

    // --- HTTP API ---

    const http = new HttpApi(this, 'Api', {
      apiName: `${this.stackName}-api`,
      createDefaultStage: false,
      corsPreflight: {
        allowOrigins: [...KOMMO_ORIGINS],
        allowHeaders: [...CORS.allowHeaders],
        allowMethods: [CorsHttpMethod.GET, CorsHttpMethod.POST, CorsHttpMethod.PUT, CorsHttpMethod.OPTIONS],
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
    const integrations = new Map<HttpRouteName, HttpLambdaIntegration>();
    for (const route of HTTP_ROUTES) {
      let integration = integrations.get(route.handler);
      if (!integration) {
        const target = { ...fns, ...kommoFns }[route.handler];
        integration = new HttpLambdaIntegration(`${route.handler}Integration`, target.fn);
        integrations.set(route.handler, integration);
      }
      http.addRoutes({ path: route.path, methods: [HttpMethod[route.method]], integration });
    }

    // --- alarms ---

    const alarmTopic = new Topic(this, 'Alarms', { enforceSSL: true, masterKey: accountsKey });
    const alarm = (id: string, metric: Metric | ReturnType<Metric['with']>, description: string) =>
      new Alarm(this, id, {
        metric,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      }).addAlarmAction(new SnsAction(alarmTopic));
    for (const [name, fn] of Object.entries({ ...fns, ...kommoFns })) {
      alarm(`${name}Errors`, fn.fn.metricErrors({ period: Duration.minutes(5) }), `${name} function errors`);
      alarm(
        `${name}Throttles`,
        fn.fn.metricThrottles({ period: Duration.minutes(5) }),
        `${name} function throttled`,
      );
    }
    alarm('Api5xx', http.metricServerError({ period: Duration.minutes(5) }), 'HTTP API answered 5xx');
    for (const metricName of ['IntegrationError', 'ExecutionError']) {
      alarm(
        `Sockets${metricName}`,
        new Metric({
          namespace: 'AWS/ApiGateway',
          metricName,
          dimensionsMap: { ApiId: ws.apiId, Stage: WS_STAGE },
          statistic: 'Sum',
          period: Duration.minutes(5),
        }),
        `WebSocket API ${metricName}`,
      );
    }

    // --- outputs (read by `npm run accounts` and the widget build) ---

    new CfnOutput(this, 'WebSocketUrl', { value: wsStage.url });
    new CfnOutput(this, 'HttpApiUrl', { value: httpStage.url });
    new CfnOutput(this, 'TableName', { value: state.tableName });
    new CfnOutput(this, 'AccountsTableName', { value: accounts.tableName });
    new CfnOutput(this, 'Region', { value: this.region });
    new CfnOutput(this, 'AlarmTopicArn', { value: alarmTopic.topicArn });

    this.acknowledgeFindings(ws, http, { ...fns, ...kommoFns }, state);
  }

  private acknowledgeFindings(
    ws: WebSocketApi,
    http: HttpApi,
    fns: Record<string, CallbridgeFunction>,
    state: Table,
  ) {
    const logicalId = (construct: Construct) => this.getLogicalId(construct.node.defaultChild as CfnElement);
    Validations.of(ws).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason:
        'API Gateway allows an authorizer on $connect only; $disconnect and $default run on a connection that the ticket authorizer already admitted.',
    });
    Validations.of(http).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason:
        'Each route authenticates in its handler: webhooks by Standard Webhooks HMAC per account, /tickets and /agents by a Kommo disposable token (HS256 JWT with the integration secret).',
    });
    for (const fn of Object.values(fns)) {
      const policy = fn.fn.role?.node.tryFindChild('DefaultPolicy');
      if (!policy) continue;
      Validations.of(policy).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${logicalId(state)}.Arn>/index/*]`,
        reason: 'table.grant*Data() also covers the table’s indexes; routing queries the byAccount index.',
      });
      Validations.of(policy).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<${logicalId(ws)}>/${WS_STAGE}/*/@connections/*]`,
        reason:
          'stage.grantManagementApiAccess(): connection ids exist only at run time; scoped to this API and stage.',
      });
      Validations.of(policy).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${logicalId(fns.kommoInstall?.fn ?? ws)}.Arn>:*]`,
        reason:
          'fn.grantInvoke() covers the function’s versions and aliases; scoped to the one install function.',
      });
    }
  }
}
