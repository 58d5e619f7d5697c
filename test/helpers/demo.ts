import type { Page } from 'playwright-core';
import { DEMO_CONTACTS } from '../../infra/local/demo';
import type { startDemoStack } from '../../infra/local/main';
import { sendSignedCall } from '../../infra/local/signed-call';

type Demo = Awaited<ReturnType<typeof startDemoStack>>;

/** A signed call event for one extension of the demo account, as the phone system would send it. */
export const demoCall = (
  demo: Demo,
  type: 'call.ringing' | 'call.answered' | 'call.ended',
  callId: string,
  extension: string,
  from: string = DEMO_CONTACTS[0].phone,
) =>
  sendSignedCall({
    url: demo.stack.url,
    subdomain: demo.account.subdomain,
    secret: demo.account.webhookSecrets[0]?.secret ?? '',
    type,
    callId,
    from,
    to: `ext ${extension}`,
    extensions: [extension],
  });

/** Every value the widget gave APP.sdk.setCallingStatus on this page. */
export const callingHistory = (page: Page) =>
  page.evaluate(() => (window as unknown as { __demo: { callingHistory: boolean[] } }).__demo.callingHistory);
