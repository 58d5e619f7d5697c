import {
  type ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GoneException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { type ConnectionCloser, type Pusher, PushFailedError, type PushOutcome } from '../ports';

const isGone = (error: unknown): boolean =>
  error instanceof GoneException || (error instanceof Error && error.name === 'GoneException');

/**
 * PostToConnection in our terms. Throttling (`LimitExceededException`) is retried with backoff by the SDK's
 * standard retry strategy (configure `maxAttempts` on the client); the abort signal bounds the whole send,
 * retries included, because `requestTimeout` alone no longer aborts a hung request.
 */
export class ApiGatewayPusher implements Pusher, ConnectionCloser {
  constructor(
    private readonly client: ApiGatewayManagementApiClient,
    private readonly timeoutMs: number,
  ) {}

  async send(connectionId: string, data: string): Promise<PushOutcome> {
    try {
      await this.client.send(
        new PostToConnectionCommand({ ConnectionId: connectionId, Data: new TextEncoder().encode(data) }),
        { abortSignal: AbortSignal.timeout(this.timeoutMs) },
      );
      return 'sent';
    } catch (error) {
      if (isGone(error)) return 'gone';
      const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      throw new PushFailedError(connectionId, reason, { cause: error });
    }
  }

  async close(connectionId: string): Promise<PushOutcome> {
    try {
      await this.client.send(new DeleteConnectionCommand({ ConnectionId: connectionId }), {
        abortSignal: AbortSignal.timeout(this.timeoutMs),
      });
      return 'sent';
    } catch (error) {
      if (isGone(error)) return 'gone';
      const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      throw new PushFailedError(connectionId, reason, { cause: error });
    }
  }
}
