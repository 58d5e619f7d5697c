/**
 * A stand-in for Asterisk's manager interface on loopback, as strict as the protocol needs: the banner, Login
 * that answers `Authentication failed` and drops the session on a wrong secret (as manager.c does), actions
 * refused before login, `CoreShowChannels` answered from the channels the replayed transcript has open at that
 * moment (an EventList: start, one CoreShowChannel per channel, CoreShowChannelsComplete), `Ping`.
 *
 * Events are recorded transcripts played in order. Events played while no session is logged in still happen on
 * this "PBX" (its channel table changes) but reach no one, exactly what a bridge misses while disconnected.
 */

import type { AddressInfo } from 'node:net';
import { createServer, type Server, type Socket } from 'node:net';
import { type Frame, toWire } from './transcript';

interface LiveChannel {
  channel: string;
  uniqueid: string;
  linkedid: string;
  state: string;
  stateDesc: string;
  callerIdNum: string;
  callerIdName: string;
  context: string;
  exten: string;
  bridgeId: string;
}

interface Session {
  socket: Socket;
  loggedIn: boolean;
  buffer: string;
}

export interface ScriptedAmiOptions {
  username: string;
  secret: string;
  /** manager.conf `write` classes of the user; CoreShowChannels needs system or reporting. */
  write?: string[];
}

export class ScriptedAmi {
  private server: Server | undefined;
  private readonly sessions = new Set<Session>();
  readonly channels = new Map<string, LiveChannel>();
  /** Every Login attempt: when, and whether it succeeded. */
  readonly logins: { at: number; ok: boolean }[] = [];
  readonly actions: string[] = [];
  port = 0;

  constructor(private readonly options: ScriptedAmiOptions) {}

  async start(port = 0): Promise<void> {
    this.server = createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      this.server?.once('error', reject);
      this.server?.listen(port, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    this.dropClients();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = undefined;
  }

  /** Cut every session (the PBX restarting, a network cut): sockets destroyed without a goodbye. */
  dropClients(): void {
    for (const session of this.sessions) session.socket.destroy();
    this.sessions.clear();
  }

  get loggedInSessions(): number {
    return [...this.sessions].filter((s) => s.loggedIn).length;
  }

  /** Resolves once a session has logged in (after at least `count` successful logins in total). */
  async waitForLogin(count = 1, timeoutMs = 5000): Promise<void> {
    const started = Date.now();
    while (this.logins.filter((l) => l.ok).length < count || this.loggedInSessions === 0) {
      if (Date.now() - started > timeoutMs) throw new Error(`no AMI login #${count} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Play recorded frames: the PBX's channel table follows them, and logged-in sessions receive them. */
  play(frames: readonly Frame[]): void {
    for (const frame of frames) {
      this.apply(frame);
      this.broadcast(toWire(frame));
    }
  }

  /** Raw bytes to every logged-in session (malformed frames). */
  sendRaw(text: string): void {
    this.broadcast(text);
  }

  private broadcast(text: string) {
    for (const session of this.sessions) if (session.loggedIn) session.socket.write(text);
  }

  private accept(socket: Socket) {
    const session: Session = { socket, loggedIn: false, buffer: '' };
    this.sessions.add(session);
    socket.setEncoding('utf8');
    socket.on('error', () => {});
    socket.on('close', () => this.sessions.delete(session));
    socket.write('Asterisk Call Manager/2.10.4\r\n');
    socket.on('data', (chunk: string) => {
      session.buffer += chunk;
      for (;;) {
        const end = session.buffer.search(/\r?\n\r?\n/);
        if (end < 0) break;
        const block = session.buffer.slice(0, end);
        session.buffer = session.buffer.slice(end).replace(/^\r?\n\r?\n/, '');
        this.action(session, parseAction(block));
      }
    });
  }

  private action(session: Session, fields: Map<string, string>) {
    const name = (fields.get('action') ?? '').toLowerCase();
    const actionId = fields.get('actionid');
    const id = actionId ? `ActionID: ${actionId}\r\n` : '';
    this.actions.push(name);
    const reply = (text: string) => session.socket.write(text);
    if (name === 'login') {
      const ok =
        fields.get('username') === this.options.username && fields.get('secret') === this.options.secret;
      this.logins.push({ at: Date.now(), ok });
      if (!ok) {
        reply(`Response: Error\r\n${id}Message: Authentication failed\r\n\r\n`);
        session.socket.end();
        return;
      }
      session.loggedIn = true;
      reply(`Response: Success\r\n${id}Message: Authentication accepted\r\n\r\n`);
      reply(
        'Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: 1000\r\nLastReload: 1000\r\nStatus: Fully Booted\r\n\r\n',
      );
      return;
    }
    if (!session.loggedIn) {
      reply(`Response: Error\r\n${id}Message: Authentication Required\r\n\r\n`);
      return;
    }
    if (name === 'ping') {
      reply(`Response: Success\r\n${id}Ping: Pong\r\nTimestamp: ${(Date.now() / 1000).toFixed(6)}\r\n\r\n`);
    } else if (name === 'coreshowchannels') {
      const write = this.options.write ?? ['reporting'];
      if (!write.includes('system') && !write.includes('reporting') && !write.includes('all')) {
        reply(`Response: Error\r\n${id}Message: Permission denied\r\n\r\n`);
        return;
      }
      reply(`Response: Success\r\n${id}EventList: start\r\nMessage: Channels will follow\r\n\r\n`);
      for (const c of this.channels.values()) {
        reply(
          `Event: CoreShowChannel\r\n${id}Channel: ${c.channel}\r\nChannelState: ${c.state}\r\n` +
            `ChannelStateDesc: ${c.stateDesc}\r\nCallerIDNum: ${c.callerIdNum}\r\nCallerIDName: ${c.callerIdName}\r\n` +
            'ConnectedLineNum: <unknown>\r\nConnectedLineName: <unknown>\r\nLanguage: en\r\nAccountCode: \r\n' +
            `Context: ${c.context}\r\nExten: ${c.exten}\r\nPriority: 1\r\nUniqueid: ${c.uniqueid}\r\n` +
            `Linkedid: ${c.linkedid}\r\nApplication: Dial\r\nApplicationData: \r\nDuration: 00:00:05\r\n` +
            `BridgeId: ${c.bridgeId}\r\n\r\n`,
        );
      }
      reply(
        `Event: CoreShowChannelsComplete\r\n${id}EventList: Complete\r\nListItems: ${this.channels.size}\r\n\r\n`,
      );
    } else if (name === 'logoff') {
      reply(`Response: Goodbye\r\n${id}Message: Thanks for all the fish.\r\n\r\n`);
      session.socket.end();
    } else {
      reply(`Response: Error\r\n${id}Message: Invalid/unknown command\r\n\r\n`);
    }
  }

  /** The PBX's own bookkeeping of a frame it emits. */
  private apply(frame: Frame) {
    const get = (key: string) => frame.find(([k]) => k === key)?.[1];
    const event = get('Event');
    const uniqueid = get('Uniqueid');
    if (!event || !uniqueid) return;
    const existing = this.channels.get(uniqueid);
    if (event === 'Newchannel' && !existing) {
      this.channels.set(uniqueid, {
        channel: get('Channel') ?? '',
        uniqueid,
        linkedid: get('Linkedid') ?? uniqueid,
        state: get('ChannelState') ?? '0',
        stateDesc: get('ChannelStateDesc') ?? 'Down',
        callerIdNum: get('CallerIDNum') ?? '',
        callerIdName: get('CallerIDName') ?? '',
        context: get('Context') ?? '',
        exten: get('Exten') ?? '',
        bridgeId: '',
      });
      return;
    }
    if (!existing) return;
    if (event === 'Hangup') {
      this.channels.delete(uniqueid);
      return;
    }
    existing.linkedid = get('Linkedid') ?? existing.linkedid;
    existing.state = get('ChannelState') ?? existing.state;
    existing.stateDesc = get('ChannelStateDesc') ?? existing.stateDesc;
    existing.callerIdNum = get('CallerIDNum') ?? existing.callerIdNum;
    existing.context = get('Context') ?? existing.context;
    existing.exten = get('Exten') ?? existing.exten;
    if (event === 'BridgeEnter') existing.bridgeId = get('BridgeUniqueid') ?? '';
    if (event === 'BridgeLeave') existing.bridgeId = '';
  }
}

const parseAction = (block: string): Map<string, string> => {
  const fields = new Map<string, string>();
  for (const line of block.split(/\r?\n/)) {
    const at = line.indexOf(':');
    if (at > 0) fields.set(line.slice(0, at).trim().toLowerCase(), line.slice(at + 1).trim());
  }
  return fields;
};
