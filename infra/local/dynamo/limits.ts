/**
 * Request limits DynamoDB enforces that dynalite does not, or does more loosely ("Quotas in Amazon
 * DynamoDB"): 400 KB per item counted in UTF-8 (dynalite counts UTF-16 units), 25 write requests per
 * BatchWriteItem across all its tables (dynalite counts per table), and 100 items per transaction.
 * dynalite already enforces 100 keys and 16 MB per BatchGetItem and 1 MB Query/Scan pages.
 */
import { itemBytes, MAX_ITEM_BYTES } from './item-size';
import { type Body, type Item, isRecord, validationError } from './protocol';

export const ITEM_TOO_LARGE = 'Item size has exceeded the maximum allowed size';
export const UPDATE_TOO_LARGE = 'Item size to update has exceeded the maximum allowed size';

export const checkLimits = (operation: string, body: Body): void => {
  if (operation === 'PutItem' && isRecord(body.Item) && itemBytes(body.Item as Item) > MAX_ITEM_BYTES) {
    throw validationError(ITEM_TOO_LARGE);
  }
  if (operation === 'BatchWriteItem' && isRecord(body.RequestItems)) {
    const requests = Object.values(body.RequestItems).flatMap((list) => (Array.isArray(list) ? list : []));
    if (requests.length > 25) throw validationError('Too many items requested for the BatchWriteItem call');
    for (const request of requests) {
      const put = isRecord(request) && isRecord(request.PutRequest) ? request.PutRequest.Item : undefined;
      if (isRecord(put) && itemBytes(put as Item) > MAX_ITEM_BYTES) throw validationError(ITEM_TOO_LARGE);
    }
  }
  if (operation === 'TransactWriteItems' || operation === 'TransactGetItems') {
    const items = Array.isArray(body.TransactItems) ? body.TransactItems : [];
    if (items.length > 100) {
      throw validationError(
        `1 validation error detected: Value at 'transactItems' failed to satisfy constraint: Member must have length less than or equal to 100`,
      );
    }
    for (const entry of items) {
      const put = isRecord(entry) && isRecord(entry.Put) ? entry.Put.Item : undefined;
      if (isRecord(put) && itemBytes(put as Item) > MAX_ITEM_BYTES) throw validationError(ITEM_TOO_LARGE);
    }
  }
};
