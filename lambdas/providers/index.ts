/** The one list of phone providers Callbridge understands natively; each lives in its own folder. */

import { plivo } from './plivo';
import type { ProviderAdapter, ProviderName } from './port';
import { telnyx } from './telnyx';
import { twilio } from './twilio';
import { vonage } from './vonage';
import { zadarma } from './zadarma';

export const PROVIDERS: Readonly<Record<ProviderName, ProviderAdapter>> = {
  twilio: twilio as ProviderAdapter,
  telnyx: telnyx as ProviderAdapter,
  vonage: vonage as ProviderAdapter,
  plivo: plivo as ProviderAdapter,
  zadarma: zadarma as ProviderAdapter,
};
