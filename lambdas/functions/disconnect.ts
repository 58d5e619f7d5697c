import { makeDisconnectHandler } from '../handlers/websocket';
import { jsonLogger } from '../logger';
import { stateStore } from './wiring';

export const handler = makeDisconnectHandler({ connections: stateStore(), logger: jsonLogger('disconnect') });
