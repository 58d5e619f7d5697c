/**
 * Time to live: dynalite has no UpdateTimeToLive, so the front keeps each table's TTL setting and answers
 * DescribeTimeToLive from it. Expired items are NOT deleted: on AWS deletion happens in the background,
 * typically within a few days of expiry, and expired items stay readable until then, so readers must
 * filter on the TTL attribute themselves, here as there.
 */
import type { Reply } from './context';
import { type Body, isRecord, validationError } from './protocol';
import type { Catalog } from './schema';

export class TimeToLive {
  private readonly settings = new Map<string, string>();

  constructor(private readonly catalog: Catalog) {}

  async update(body: Body): Promise<Reply> {
    const table = String(body.TableName);
    const spec = isRecord(body.TimeToLiveSpecification) ? body.TimeToLiveSpecification : undefined;
    if (!spec || typeof spec.AttributeName !== 'string' || typeof spec.Enabled !== 'boolean') {
      throw validationError('TimeToLiveSpecification: expected { AttributeName: string, Enabled: boolean }');
    }
    if (!(await this.catalog.get(table))) {
      return {
        status: 400,
        body: {
          __type: 'com.amazonaws.dynamodb.v20120810#ResourceNotFoundException',
          message: 'Requested resource not found',
        },
      };
    }
    const current = this.settings.get(table);
    if (spec.Enabled === (current !== undefined)) {
      throw validationError(
        spec.Enabled ? 'TimeToLive is already enabled' : 'TimeToLive is already disabled',
      );
    }
    if (spec.Enabled) this.settings.set(table, spec.AttributeName);
    else this.settings.delete(table);
    return { status: 200, body: { TimeToLiveSpecification: spec } };
  }

  /** The table's TTL description, or undefined when TTL was never enabled here (dynalite answers DISABLED). */
  async describe(body: Body): Promise<Reply | undefined> {
    const name = this.settings.get(String(body.TableName));
    if (!name) return undefined;
    return {
      status: 200,
      body: { TimeToLiveDescription: { TimeToLiveStatus: 'ENABLED', AttributeName: name } },
    };
  }
}
