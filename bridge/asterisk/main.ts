/**
 * `npm run bridge:asterisk`: the bridge as a process of its own, next to the PBX. Configuration comes from the
 * environment (see README, "Asterisk, FreePBX and kin"); a missing or wrong value stops it at once, naming the
 * variable. SIGTERM/SIGINT stop it cleanly; anything harsher loses nothing, because every event is on disk
 * before it is sent.
 */
import { jsonLogger } from '../../lambdas/logger';
import { parseOrExit } from '../../scripts/cli';
import { startBridge } from './bridge';
import { BridgeConfigError, readConfig } from './config';

const logger = jsonLogger('callbridge-asterisk');
// A closed log pipe (a supervisor gone, `| head`) must not take the bridge down with EPIPE.
process.stdout.on('error', () => {});
process.stderr.on('error', () => {});

const HELP = {
  usage: 'npm run bridge:asterisk   (configured by environment variables)',
  details: `  required: AMI_HOST, AMI_USERNAME, AMI_SECRET, CALLBRIDGE_WEBHOOK_URL (https://…/webhooks/{subdomain}),
            CALLBRIDGE_WEBHOOK_SECRET (whsec_…), BRIDGE_DATA_DIR (where the outbox lives)
  optional: AMI_PORT (5038), BRIDGE_INBOUND_CONTEXTS, BRIDGE_EXTENSION_PATTERN, BRIDGE_TRUNKS,
            BRIDGE_HEALTH_PORT, BRIDGE_RECORDING_BASE_URL and more: see README "Asterisk, FreePBX and kin"`,
  examples: [
    'AMI_HOST=10.0.0.5 AMI_USERNAME=callbridge AMI_SECRET=… CALLBRIDGE_WEBHOOK_URL=https://…/webhooks/acme \\\n    CALLBRIDGE_WEBHOOK_SECRET=whsec_… BRIDGE_DATA_DIR=/var/lib/callbridge-asterisk npm run bridge:asterisk',
  ],
  options: {},
} as const;

const main = async () => {
  parseOrExit(HELP, process.argv.slice(2), 'callbridge asterisk bridge');
  let config: ReturnType<typeof readConfig>;
  try {
    config = readConfig(process.env);
  } catch (error) {
    if (error instanceof BridgeConfigError) {
      process.stderr.write(`callbridge asterisk bridge: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const bridge = await startBridge(config, { logger });
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('stopping', { signal });
    bridge.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
};

main().catch((error: unknown) => {
  logger.error('bridge failed to start', { error: error instanceof Error ? error.message : String(error) });
  process.exit(1);
});
