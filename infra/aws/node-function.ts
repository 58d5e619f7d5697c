import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { Architecture, Runtime } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { FunctionSpec } from '../../lambdas/functions/manifest';

const root = fileURLToPath(new URL('../../', import.meta.url));

/**
 * House defaults for every handler: arm64, Node.js 24, minified ESM with source maps, the SDK bundled
 * (only the clients the handler imports survive tree-shaking; the runtime's copy loads slower) and reading
 * credentials from the environment only, and a log group of its own with a retention. Everything
 * function-specific comes from its manifest entry.
 */
export class CallbridgeFunction extends Construct {
  readonly fn: NodejsFunction;

  constructor(scope: Construct, id: string, spec: FunctionSpec) {
    super(scope, id);
    const logGroup = new LogGroup(this, 'Logs', {
      retention: RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.fn = new NodejsFunction(this, 'Fn', {
      entry: `${root}lambdas/functions/${spec.entry}.ts`,
      handler: 'handler',
      description: spec.description,
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      memorySize: spec.memoryMb,
      timeout: Duration.seconds(spec.timeoutSeconds),
      reservedConcurrentExecutions: spec.reservedConcurrency,
      logGroup,
      environment: { NODE_OPTIONS: '--enable-source-maps' },
      depsLockFilePath: `${root}package-lock.json`,
      projectRoot: root,
      bundling: {
        format: OutputFormat.ESM,
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        bundleAwsSDK: true,
        mainFields: ['module', 'main'],
        // The bundled SDK still calls require() for Node built-ins; ESM has no require without this.
        banner: "import { createRequire } from 'module';const require = createRequire(import.meta.url);",
        tsconfig: `${root}tsconfig.json`,
        // Lambda gives credentials in the environment; the SDK's default chain would bundle every other way
        // of finding them (see lambdas/functions/lambda-credentials.ts).
        esbuildArgs: {
          '--alias:@aws-sdk/credential-provider-node': `${root}lambdas/functions/lambda-credentials.ts`,
        },
      },
    });
    Validations.of(this.fn.role ?? this.fn).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      reason:
        'The managed basic execution role only allows writing to the function’s own CloudWatch log streams.',
    });
  }
}
