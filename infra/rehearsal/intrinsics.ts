/**
 * CloudFormation intrinsics resolved to stand-in values, so the rehearsal can read a synthesized template as
 * AWS would after deploying it: physical names, ARNs and URLs for one made-up account and region.
 */
export const REHEARSAL_ACCOUNT = '123456789012';
export const REHEARSAL_REGION = 'us-east-1';

export interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
  Condition?: string;
}
export interface CfnTemplate {
  Resources: Record<string, CfnResource>;
  Parameters?: Record<string, { Default?: string }>;
  Conditions?: Record<string, unknown>;
}

/** The physical id CloudFormation would give a resource (`Ref`). */
export const physicalId = (template: CfnTemplate, logicalId: string): string => {
  const resource = template.Resources[logicalId];
  if (!resource) throw new Error(`template: no resource ${logicalId}`);
  switch (resource.Type) {
    case 'AWS::DynamoDB::Table':
      return `Rehearsal-${logicalId}`;
    case 'AWS::ApiGatewayV2::Api':
      // API ids are 10 lower-case alphanumerics.
      return logicalId
        .toLowerCase()
        .replace(/[^a-z0-9]/g, '')
        .slice(0, 10)
        .padEnd(10, '0');
    case 'AWS::KMS::Key':
      return `key-${logicalId.toLowerCase()}`;
    case 'AWS::IAM::Role':
      return `Rehearsal-${logicalId}`;
    case 'AWS::Lambda::Function':
      return `Rehearsal-${logicalId}`;
    case 'AWS::SQS::Queue':
      // A queue's Ref is its URL.
      return `https://sqs.${REHEARSAL_REGION}.amazonaws.com/${REHEARSAL_ACCOUNT}/Rehearsal-${logicalId}`;
    default:
      return `${logicalId}-physical`;
  }
};

const arnOf = (template: CfnTemplate, logicalId: string): string => {
  const resource = template.Resources[logicalId];
  const id = physicalId(template, logicalId);
  const regional = `${REHEARSAL_REGION}:${REHEARSAL_ACCOUNT}`;
  switch (resource?.Type) {
    case 'AWS::DynamoDB::Table':
      return `arn:aws:dynamodb:${regional}:table/${id}`;
    case 'AWS::KMS::Key':
      return `arn:aws:kms:${regional}:key/${id}`;
    case 'AWS::IAM::Role':
      return `arn:aws:iam::${REHEARSAL_ACCOUNT}:role/${id}`;
    case 'AWS::Lambda::Function':
      return `arn:aws:lambda:${regional}:function:${id}`;
    case 'AWS::SNS::Topic':
      return `arn:aws:sns:${regional}:${id}`;
    case 'AWS::SQS::Queue':
      return `arn:aws:sqs:${regional}:Rehearsal-${logicalId}`;
    case 'AWS::Events::Rule':
      return `arn:aws:events:${regional}:rule/${id}`;
    default:
      throw new Error(`rehearsal: no ARN for ${logicalId} (${resource?.Type})`);
  }
};

const PSEUDO: Record<string, string> = {
  'AWS::AccountId': REHEARSAL_ACCOUNT,
  'AWS::Region': REHEARSAL_REGION,
  'AWS::Partition': 'aws',
  'AWS::URLSuffix': 'amazonaws.com',
  'AWS::StackName': 'Rehearsal',
};

/** Resolve every intrinsic in a value; an intrinsic this does not know fails loudly rather than guessing. */
export const resolve = (template: CfnTemplate, value: unknown): unknown => {
  if (Array.isArray(value)) return value.map((v) => resolve(template, v));
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value);
  const [key, arg] = entries[0] ?? [];
  if (entries.length === 1 && key !== undefined) {
    if (key === 'Ref') {
      const name = String(arg);
      if (name in PSEUDO) return PSEUDO[name];
      const parameter = template.Parameters?.[name];
      if (parameter) return parameter.Default ?? '';
      return physicalId(template, name);
    }
    if (key === 'Fn::GetAtt') {
      const [logicalId, attribute] = (Array.isArray(arg) ? arg : String(arg).split('.')) as [string, string];
      if (attribute === 'Arn') return arnOf(template, logicalId);
      throw new Error(`rehearsal: Fn::GetAtt ${logicalId}.${attribute} is not modelled`);
    }
    if (key === 'Fn::Join') {
      const [separator, parts] = arg as [string, unknown[]];
      return parts.map((p) => String(resolve(template, p))).join(separator);
    }
    if (key === 'Fn::Select') {
      const [index, list] = arg as [number, unknown];
      return (resolve(template, list) as unknown[])[Number(index)];
    }
    if (key === 'Fn::Split') {
      const [separator, source] = arg as [string, unknown];
      return String(resolve(template, source)).split(separator);
    }
    if (key === 'Fn::Sub') {
      const [text, vars] = (Array.isArray(arg) ? arg : [arg, {}]) as [string, Record<string, unknown>];
      return text.replace(/\$\{([^}]+)\}/g, (_, name: string) => {
        if (name in vars) return String(resolve(template, vars[name]));
        const [ref, attribute] = name.split('.');
        return String(resolve(template, attribute ? { 'Fn::GetAtt': [ref, attribute] } : { Ref: ref }));
      });
    }
    if (key.startsWith('Fn::')) throw new Error(`rehearsal: ${key} is not modelled`);
  }
  return Object.fromEntries(entries.map(([k, v]) => [k, resolve(template, v)]));
};
