import { describe, expect, it } from 'vitest';
import { normaliseAgentMap, resolveAudience, usersByExtension } from '../../lambdas/core/routing';

const map = { '11': '101', '12': '102', '13': '101' };

describe('routing', () => {
  it('maps extensions to every user that holds them', () => {
    expect(usersByExtension(map).get('101')).toEqual([11, 13]);
  });

  it('resolves extensions and explicit users, reporting extensions nobody holds', () => {
    expect(resolveAudience({ extensions: ['101', '999'], users: [40] }, usersByExtension(map))).toEqual({
      kind: 'users',
      users: [11, 13, 40],
      unmatchedExtensions: ['999'],
    });
  });

  it('treats absent agents as every agent of the account, and empty ones as nobody', () => {
    expect(resolveAudience(undefined, usersByExtension(map))).toEqual({ kind: 'everyone' });
    expect(resolveAudience({ extensions: [] }, usersByExtension(map))).toEqual({
      kind: 'users',
      users: [],
      unmatchedExtensions: [],
    });
  });

  it('normalises the widget setting: blanks dropped, ids canonical', () => {
    expect(normaliseAgentMap({ '011': ' 101 ', '12': '', '13': '103' })).toEqual({
      '11': '101',
      '13': '103',
    });
  });
});
