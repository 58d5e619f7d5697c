/**
 * The widget's pop-up acknowledgements on the state table, one small item per call beside its record (see
 * table-design.ts):  A#<sub>#CALL#<callId> / ACK  with the users who acknowledged as a number set.
 *
 * A separate item, not an attribute of the call's record: the webhook rewrites that record whole (PutItem with
 * a version check), which would drop acks taken between two updates of the same ringing call. One ADD per ack
 * (no read, idempotent) and one consistent GetItem for the worker's check.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { PopupAcks } from '../ports';
import { callPartition, epochSeconds, numberSet } from './dynamo-items';

/** Longer than any call rings; the worker checks within seconds. */
const ACK_TTL_SECONDS = 86_400;

const ackKey = (sub: string, callId: string) => ({ pk: callPartition(sub, callId), sk: 'ACK' });

export class DynamoPopupAcks implements PopupAcks {
  private readonly db: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly table: string,
  ) {
    this.db = DynamoDBDocumentClient.from(client);
  }

  async ackPopup(sub: string, callId: string, userId: number, nowMs: number): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: ackKey(sub, callId),
        UpdateExpression: 'ADD #u :u SET #ttl = :ttl',
        ExpressionAttributeNames: { '#u': 'users', '#ttl': 'ttl' },
        ExpressionAttributeValues: {
          ':u': new Set([userId]),
          ':ttl': epochSeconds(nowMs) + ACK_TTL_SECONDS,
        },
      }),
    );
  }

  async ackedUsers(sub: string, callId: string): Promise<number[]> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.table, Key: ackKey(sub, callId), ConsistentRead: true }),
    );
    return numberSet(Item?.users);
  }
}
