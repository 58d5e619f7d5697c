import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import type { Alarm } from 'aws-cdk-lib/aws-cloudwatch';
import { Architecture, Runtime } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

const root = fileURLToPath(new URL('../../', import.meta.url));

export interface CallbridgeFunctionProps {
  /** File under lambdas/functions, without extension. */
  entry: string;
  environment?: Record<string, string>;
  memorySize?: number;
  timeout?: Duration;
}

/**
 * House defaults for every handler: arm64, Node.js 24, minified ESM with source maps, the SDK bundled
 * (only the clients the handler imports survive tree-shaking; the runtime's copy loads slower), and a log
 * group of its own with a retention.
 */
export class CallbridgeFunction extends Construct {
  readonly fn: NodejsFunction;
  readonly alarms: Alarm[] = [];

  constructor(scope: Construct, id: string, props: CallbridgeFunctionProps) {
    super(scope, id);
    const logGroup = new LogGroup(this, 'Logs', {
      retention: RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.fn = new NodejsFunction(this, 'Fn', {
      entry: `${root}lambdas/functions/${props.entry}.ts`,
      handler: 'handler',
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize ?? 256,
      timeout: props.timeout ?? Duration.seconds(10),
      logGroup,
      environment: { NODE_OPTIONS: '--enable-source-maps', ...props.environment },
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
      },
    });
    Validations.of(this.fn.role ?? this.fn).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      reason:
        'The managed basic execution role only allows writing to the function’s own CloudWatch log streams.',
    });
  }
}
