// The rehearsal's stand-in for the Node.js Lambda runtime's bootstrap: load the handler named by _HANDLER
// from LAMBDA_TASK_ROOT, then serve invocations from the Runtime API (next → response | error), as Lambda's
// own runtime client does. It runs on the Lambda's Node major, in a process of its own.
import { pathToFileURL } from 'node:url';

const api = `http://${process.env.AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime`;
const [file, exportName] = (process.env._HANDLER ?? '').split('.');

const post = (path, body) =>
  fetch(`${api}${path}`, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
  });

const errorBody = (error) => ({
  errorType: error instanceof Error ? error.name : 'Error',
  errorMessage: error instanceof Error ? error.message : String(error),
  trace: error instanceof Error && error.stack ? error.stack.split('\n') : [],
});

let handler;
try {
  const module = await import(pathToFileURL(`${process.env.LAMBDA_TASK_ROOT}/${file}.mjs`).href);
  handler = module[exportName];
  if (typeof handler !== 'function') throw new Error(`${process.env._HANDLER} is undefined or not exported`);
} catch (error) {
  await post('/init/error', errorBody(error));
  process.exit(1);
}

for (;;) {
  const next = await fetch(`${api}/invocation/next`);
  const requestId = next.headers.get('lambda-runtime-aws-request-id');
  const deadline = Number(next.headers.get('lambda-runtime-deadline-ms'));
  const event = await next.json();
  const context = {
    awsRequestId: requestId,
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    getRemainingTimeInMillis: () => deadline - Date.now(),
    callbackWaitsForEmptyEventLoop: true,
  };
  try {
    const result = await handler(event, context);
    await post(`/invocation/${requestId}/response`, result ?? null);
  } catch (error) {
    await post(`/invocation/${requestId}/error`, errorBody(error));
  }
}
