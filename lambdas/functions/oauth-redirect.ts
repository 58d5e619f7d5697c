import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { DynamoInstallCodeStore } from '../adapters/dynamo-install-codes';
import { cachedIntegration, DynamoIntegrationStore } from '../adapters/dynamo-integration';
import { makeOAuthRedirectHandler } from '../handlers/oauth';
import { jsonLogger } from '../logger';
import { systemClock } from '../ports';
import { dynamoClient, environment } from './wiring';

const env = environment('oauthRedirect');
const lambda = new LambdaClient({});

export const handler = makeOAuthRedirectHandler({
  integration: cachedIntegration(new DynamoIntegrationStore(dynamoClient(), env.KOMMO_TABLE), () =>
    Date.now(),
  ),
  codes: new DynamoInstallCodeStore(dynamoClient(), env.KOMMO_TABLE),
  // An asynchronous invoke returns once Lambda has queued the event (202): well inside Kommo's 3 s, and
  // Lambda retries a failed exchange twice on its own; the hourly sweep catches anything beyond that.
  startExchange: async (codeId) => {
    await lambda.send(
      new InvokeCommand({
        FunctionName: env.INSTALL_FUNCTION_NAME,
        InvocationType: 'Event',
        Payload: new TextEncoder().encode(JSON.stringify({ codeId })),
      }),
      { abortSignal: AbortSignal.timeout(1500) },
    );
  },
  clock: systemClock,
  logger: jsonLogger('oauth-redirect'),
});
