/**
 * `npm run bridge:asterisk`: the bridge as a process of its own, next to the PBX. Configuration comes from the
 * environment (see README, "Asterisk, FreePBX and kin"); a missing or wrong value stops it at once, naming the
 * variable. SIGTERM/SIGINT stop it cleanly; anything harsher loses nothing, because every event is on disk
 * before it is sent.
 */
import { jsonLogger } from '../../lambdas/logger';
import { startBridge } from './bridge';
import { BridgeConfigError, readConfig } from './config';

const logger = jsonLogger('callbridge-asterisk');
// A closed log pipe (a supervisor gone, `| head`) must not take the bridge down with EPIPE.
process.stdout.on('error', () => {});
process.stderr.on('error', () => {});

const main = async () => {
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
