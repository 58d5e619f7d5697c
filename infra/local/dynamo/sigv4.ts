/**
 * Who is calling: the access key id and credential scope from a SigV4 `Authorization` header
 * (`AWS4-HMAC-SHA256 Credential=<key>/<yyyymmdd>/<region>/<service>/aws4_request, SignedHeaders=…, Signature=…`).
 * The signature itself is not verified: the front stands in for IAM's decision, not for SigV4.
 */
export interface CallerCredential {
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
}

export const parseAuthorization = (header: string | undefined): CallerCredential | undefined => {
  if (!header?.startsWith('AWS4-HMAC-SHA256')) return undefined;
  const match = /Credential=([^,\s]+)/.exec(header);
  const parts = match?.[1]?.split('/');
  if (parts?.length !== 5 || parts[4] !== 'aws4_request') return undefined;
  const [accessKeyId = '', date = '', region = '', service = ''] = parts;
  if (!accessKeyId) return undefined;
  return { accessKeyId, date, region, service };
};
