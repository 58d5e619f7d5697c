/**
 * What a channel is, from its name and where it entered the dialplan. Asterisk names channels
 * `TECH/endpoint-sequence` (PJSIP/101-0000001c, SIP/voipgrid-siproute-docker-00000025) and helper legs
 * `Local/exten@context-sequence;1|2`; FreePBX names agents' endpoints after their extension numbers.
 */
import type { ClassifyConfig } from './config';

export type ChannelKind = 'agent' | 'trunk' | 'local';

export interface ChannelIdentity {
  kind: ChannelKind;
  /** The endpoint (for an agent: the extension Kommo's agent map uses); for Local/ legs the exten. */
  endpoint: string;
}

/** `PJSIP/101-0000001c` → `101`; `SIP/voipgrid-siproute-docker-00000025` → `voipgrid-siproute-docker`. */
export const endpointOf = (channel: string): string => {
  const slash = channel.indexOf('/');
  const rest = slash >= 0 ? channel.slice(slash + 1) : channel;
  const local = /^([^@;]+)@/.exec(rest);
  if (channel.toLowerCase().startsWith('local/') && local?.[1]) return local[1];
  const dash = rest.lastIndexOf('-');
  return (dash > 0 ? rest.slice(0, dash) : rest).replace(/<[A-Z]+>$/, '');
};

const globToRegExp = (glob: string): RegExp =>
  new RegExp(`^${glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`, 'i');

export const makeClassifier = (config: ClassifyConfig) => {
  const trunks = config.trunks.map(globToRegExp);
  const inbound = new Set(config.inboundContexts.map((c) => c.toLowerCase()));
  return {
    /** @param context the context the channel was created in (Newchannel), if known */
    classify(channel: string, context?: string): ChannelIdentity {
      const endpoint = endpointOf(channel);
      if (channel.toLowerCase().startsWith('local/')) return { kind: 'local', endpoint };
      if (trunks.some((t) => t.test(endpoint))) return { kind: 'trunk', endpoint };
      if (context && inbound.has(context.toLowerCase())) return { kind: 'trunk', endpoint };
      return { kind: config.extensionPattern.test(endpoint) ? 'agent' : 'trunk', endpoint };
    },
    isInboundContext: (context: string | undefined) => !!context && inbound.has(context.toLowerCase()),
    /** A queue member's interface such as `Local/101@from-queue/n` or `PJSIP/101` → the agent extension. */
    agentOfInterface(iface: string | undefined): string | undefined {
      if (!iface) return undefined;
      const local = /^local\/([^@]+)@/i.exec(iface);
      const candidate = local?.[1] ?? iface.slice(iface.indexOf('/') + 1);
      return config.extensionPattern.test(candidate) ? candidate : undefined;
    },
    followsContext: (context: string | undefined) =>
      config.contextFilter.length === 0 || (!!context && config.contextFilter.includes(context)),
  };
};

export type Classifier = ReturnType<typeof makeClassifier>;
