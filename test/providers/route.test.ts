import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HttpEvent } from '../../lambdas/handlers/http';
import { publicUrl } from '../../lambdas/handlers/public-url';
import { twilio } from './fixtures/twilio';
import { CREDENTIALS, type ProviderStack, settle, startProviderStack } from './harness';
import { telnyxSign, twilioSign } from './signers';

let t: ProviderStack;
beforeAll(async () => {
  t = await startProviderStack();
});
afterAll(() => t.stop());

const FORM = 'application/x-www-form-urlencoded';

describe('POST /webhooks/{subdomain}/{provider}', () => {
  it('answers problem+json with a clear reason, and changes nothing, for every request it cannot accept', async () => {
    const body = twilio.ringing('CA11111111111111111111111111111111');
    const socket = await t.connect(7);
    const before = await t.items();
    const signed = (url: string) => twilioSign(CREDENTIALS.twilio.authToken, url, body);
    const cases: [
      string,
      Promise<{ status: number; json: () => Record<string, unknown> }>,
      number,
      string,
      RegExp,
    ][] = [
      [
        'unknown provider',
        t.post(t.url('asterisk'), body, {}, FORM),
        404,
        'not_found',
        /expected one of twilio, telnyx, vonage, plivo, zadarma/,
      ],
      [
        'unknown account',
        t.post(t.url('twilio', 'nobody'), body, signed(t.url('twilio', 'nobody')), FORM),
        404,
        'unknown_account',
        /"nobody" is not registered/,
      ],
      [
        'provider not connected',
        t.post(t.url('twilio', 'globex'), body, signed(t.url('twilio', 'globex')), FORM),
        404,
        'not_found',
        /twilio is not connected to account "globex"/,
      ],
      [
        'wrong media type',
        t.post(t.url('vonage'), body, {}, FORM),
        415,
        'unsupported_media_type',
        /expected application\/json from vonage/,
      ],
      [
        'too large',
        t.post(t.url('twilio'), `${body}&Pad=${'x'.repeat(70_000)}`, {}, FORM),
        413,
        'payload_too_large',
        /at most 65536/,
      ],
    ];
    for (const [label, pending, status, code, detail] of cases) {
      const res = await pending;
      expect({ label, status: res.status }).toEqual({ label, status });
      expect(res.json()).toMatchObject({ code });
      expect(String(res.json().detail)).toMatch(detail);
    }
    const get = await fetch(t.url('twilio'));
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    expect(await t.items()).toEqual(before);
    await settle();
    expect(socket.count('call')).toBe(0);
    socket.close();
  });

  it('reads the body only after the signature: a signed but unreadable payload is a 400 naming the field', async () => {
    const body = JSON.stringify({ data: { id: 'ev-1', event_type: 'call.initiated', payload: {} } });
    const res = await t.post(t.url('telnyx'), body, telnyxSign(t.telnyxPrivateKey, body), 'application/json');
    expect(res.status).toBe(400);
    expect(res.json()).toMatchObject({ code: 'invalid_body' });
    expect(String(res.json().detail)).toMatch(/^data\.payload\.call_session_id: /);
    const unsigned = await t.post(t.url('telnyx'), body, {}, 'application/json');
    expect(unsigned.status).toBe(401);
  });

  it('acknowledges a verified notification that carries no call state without storing anything', async () => {
    const body = JSON.stringify({
      data: {
        id: 'ev-dtmf',
        event_type: 'call.dtmf.received',
        payload: { call_session_id: 's-1', digit: '1' },
      },
    });
    const before = await t.items();
    const res = await t.post(t.url('telnyx'), body, telnyxSign(t.telnyxPrivateKey, body), 'application/json');
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ status: 'ignored', reason: 'call.dtmf.received carries no call state' });
    expect(await t.items()).toEqual(before);
  });
});

const event = (over: {
  headers?: Record<string, string>;
  rawPath?: string;
  rawQueryString?: string;
  stage?: string;
  domainName?: string;
}): HttpEvent =>
  ({
    version: '2.0',
    routeKey: 'POST /webhooks/{subdomain}/{provider}',
    rawPath: over.rawPath ?? '/webhooks/acme/twilio',
    rawQueryString: over.rawQueryString ?? '',
    headers: over.headers ?? {},
    isBase64Encoded: false,
    requestContext: {
      domainName: over.domainName ?? 'abc123.execute-api.eu-west-1.amazonaws.com',
      stage: over.stage ?? '$default',
      http: {
        method: 'POST',
        path: over.rawPath ?? '/webhooks/acme/twilio',
        protocol: 'HTTP/1.1',
        sourceIp: '1.2.3.4',
        userAgent: 'x',
      },
    },
  }) as unknown as HttpEvent;

describe('the public URL a provider signed', () => {
  it('is rebuilt from forwarded scheme, host, path and the raw query, untouched', () => {
    expect(
      publicUrl(
        event({
          headers: { host: 'abc123.execute-api.eu-west-1.amazonaws.com', 'x-forwarded-proto': 'https' },
          rawQueryString: 'a=1&b=%27q%27',
        }),
      ),
    ).toBe('https://abc123.execute-api.eu-west-1.amazonaws.com/webhooks/acme/twilio?a=1&b=%27q%27');
  });

  it('keeps a named stage in the path on the execute-api host, once', () => {
    const host = { host: 'abc123.execute-api.eu-west-1.amazonaws.com', 'x-forwarded-proto': 'https' };
    expect(publicUrl(event({ headers: host, stage: 'prod' }))).toBe(
      'https://abc123.execute-api.eu-west-1.amazonaws.com/prod/webhooks/acme/twilio',
    );
    expect(publicUrl(event({ headers: host, stage: 'prod', rawPath: '/prod/webhooks/acme/twilio' }))).toBe(
      'https://abc123.execute-api.eu-west-1.amazonaws.com/prod/webhooks/acme/twilio',
    );
  });

  it('uses a custom domain as called, and https when the header is missing', () => {
    expect(publicUrl(event({ headers: { host: 'calls.example.com' }, stage: 'prod' }))).toBe(
      'https://calls.example.com/webhooks/acme/twilio',
    );
    expect(publicUrl(event({ headers: {} }))).toBe(
      'https://abc123.execute-api.eu-west-1.amazonaws.com/webhooks/acme/twilio',
    );
  });
});

describe('bundles', () => {
  it('keeps provider code out of the generic webhook function and in the provider function', () => {
    const bundle = (entry: string) =>
      execFileSync(
        process.execPath,
        [
          '-e',
          `require('esbuild').build({entryPoints:[${JSON.stringify(entry)}],bundle:true,platform:'node',format:'esm',write:false,logLevel:'silent'}).then(r=>process.stdout.write(r.outputFiles[0].text))`,
        ],
        { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
      );
    const generic = bundle('lambdas/functions/webhook.ts');
    const providers = bundle('lambdas/functions/provider-webhook.ts');
    for (const marker of [
      'x-twilio-signature',
      'telnyx-signature-ed25519',
      'x-plivo-signature-v3',
      'zd_echo',
      'payload_hash',
    ]) {
      expect(generic).not.toContain(marker);
      expect(providers).toContain(marker);
    }
  }, 60_000);
});

describe('the Lambda entry', () => {
  it('fails at start naming every missing variable', () => {
    const run = () =>
      execFileSync(
        process.execPath,
        ['--import', 'tsx', '-e', "await import('./lambdas/functions/provider-webhook.ts')"],
        { env: { PATH: process.env.PATH, AWS_REGION: 'eu-west-1' }, stdio: 'pipe' },
      );
    expect(run).toThrow(/missing environment variable\(s\): STATE_TABLE, ACCOUNTS_TABLE, WS_CALLBACK_URL/);
  }, 30_000);
});
