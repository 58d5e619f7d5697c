/**
 * Item size as DynamoDB counts it for capacity and for the 400 KB limit ("Item sizes and formats",
 * DynamoDB Developer Guide): attribute names and strings by UTF-8 bytes, numbers by significant digits,
 * binaries by raw bytes, 1 byte for null and booleans, 3 bytes plus 1 byte per element for lists and maps.
 * dynalite counts UTF-16 units instead, which undercounts non-ASCII text; this is the count the front uses.
 */
import type { AttributeValue, Item } from './protocol';

export const MAX_ITEM_BYTES = 400 * 1024;

const utf8 = (text: string) => Buffer.byteLength(text, 'utf8');

/** Leading and trailing zeros do not count; one byte per two significant digits, plus one. */
const numberBytes = (text: string) => {
  const digits = text
    .replace(/^[-+]/, '')
    .replace(/[eE].*$/, '')
    .replace('.', '')
    .replace(/^0+/, '');
  const significant = digits.replace(/0+$/, '').length || 1;
  return Math.ceil(significant / 2) + 1;
};

export const valueBytes = (value: AttributeValue): number => {
  if ('S' in value) return utf8(value.S);
  if ('N' in value) return numberBytes(value.N);
  if ('B' in value) return Buffer.from(value.B, 'base64').length;
  if ('BOOL' in value || 'NULL' in value) return 1;
  if ('SS' in value) return value.SS.reduce((sum, s) => sum + utf8(s), 0);
  if ('NS' in value) return value.NS.reduce((sum, n) => sum + numberBytes(n), 0);
  if ('BS' in value) return value.BS.reduce((sum, b) => sum + Buffer.from(b, 'base64').length, 0);
  if ('L' in value) return 3 + value.L.reduce((sum, v) => sum + 1 + valueBytes(v), 0);
  return 3 + Object.entries(value.M).reduce((sum, [name, v]) => sum + 1 + utf8(name) + valueBytes(v), 0);
};

export const itemBytes = (item: Item | undefined): number =>
  item ? Object.entries(item).reduce((sum, [name, value]) => sum + utf8(name) + valueBytes(value), 0) : 0;
