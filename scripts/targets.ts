/**
 * Where the CLIs act: the deployed stack (from `cdk deploy --outputs-file`) or the running local stack
 * (from the file `npm start` writes).
 */
import { existsSync, readFileSync } from 'node:fs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { localDynamoClient } from '../infra/local/stack';
import { UsageError } from './cli';

export const DEFAULT_OUTPUTS_FILE = 'cdk-outputs.json';
export const LOCAL_STATE_FILE = '.local/stack.json';

export interface LocalStackInfo {
  url: string;
  webSocketUrl: string;
  dynamoEndpoint: string;
  tables: { state: string; accounts: string; kommo?: string };
  account: { subdomain: string };
}

export interface Target {
  kind: 'aws' | 'local';
  describe: string;
  dynamo: DynamoDBClient;
  accountsTable: string;
  /** Absent for stacks deployed before the Kommo integration existed. */
  kommoTable?: string;
  httpApiUrl: string;
}

export { UsageError } from './cli';

export const readOutputs = (file: string, stackName?: string): Record<string, string> => {
  let parsed: Record<string, Record<string, string>>;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8')) as Record<string, Record<string, string>>;
  } catch {
    throw new UsageError(
      `${file}: not the JSON that cdk deploy --outputs-file writes; deploy again or pass --local`,
    );
  }
  const stacks = Object.keys(parsed);
  const name = stackName ?? (stacks.length === 1 ? stacks[0] : undefined);
  const outputs = name ? parsed[name] : undefined;
  if (!outputs) {
    throw new UsageError(
      `${file}: expected outputs of one stack, found ${stacks.join(', ') || 'none'}; pass --stack`,
    );
  }
  return outputs;
};

export const readLocalInfo = (file = LOCAL_STATE_FILE): LocalStackInfo => {
  if (!existsSync(file)) throw new UsageError(`${file} not found: start the local stack first (npm start)`);
  return JSON.parse(readFileSync(file, 'utf8')) as LocalStackInfo;
};

export const resolveTarget = (options: {
  local?: boolean;
  outputs?: string;
  stack?: string;
  localFile?: string;
}): Target => {
  const outputsFile = options.outputs ?? DEFAULT_OUTPUTS_FILE;
  const useLocal = options.local || (!options.outputs && !existsSync(outputsFile));
  if (useLocal) {
    const info = readLocalInfo(options.localFile);
    return {
      kind: 'local',
      describe: `local stack at ${info.url}`,
      dynamo: localDynamoClient(info.dynamoEndpoint),
      accountsTable: info.tables.accounts,
      kommoTable: info.tables.kommo,
      httpApiUrl: info.url,
    };
  }
  const outputs = readOutputs(outputsFile, options.stack);
  const missing = ['AccountsTableName', 'HttpApiUrl', 'Region'].filter((key) => !outputs[key]);
  if (missing.length > 0)
    throw new UsageError(`${outputsFile}: missing output(s) ${missing.join(', ')}; redeploy`);
  return {
    kind: 'aws',
    describe: `deployed stack (${outputsFile}, ${outputs.Region})`,
    dynamo: new DynamoDBClient({ region: outputs.Region }),
    accountsTable: outputs.AccountsTableName ?? '',
    kommoTable: outputs.KommoTableName,
    httpApiUrl: outputs.HttpApiUrl ?? '',
  };
};
