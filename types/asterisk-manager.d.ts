/** The part of asterisk-manager 0.2 (MIT, pipobscure/NodeJS-AsteriskManager) the bridge uses. */
declare module 'asterisk-manager' {
  /** A parsed AMI frame: header names lower-cased; a repeated header becomes an array. */
  export type AmiFrame = Record<string, string | string[] | Record<string, string>>;

  export interface Manager {
    connect(port: number, host: string, callback?: (error: Error | null) => void): void;
    login(callback: (error: AmiFrame | Error | null | undefined) => void): void;
    action(
      action: Record<string, string>,
      callback?: (error: AmiFrame | undefined, response: AmiFrame) => void,
    ): string;
    disconnect(callback?: () => void): void;
    isConnected(): boolean;
    on(event: 'managerevent', listener: (event: AmiFrame) => void): void;
    on(event: 'close' | 'end' | 'connect', listener: () => void): void;
    on(event: 'error', listener: (error: Error) => void): void;
    on(event: string, listener: (...args: unknown[]) => void): void;
    removeAllListeners(event?: string): void;
    removeListener(event: string, listener: (event: AmiFrame) => void): void;
  }

  export default function AsteriskManager(
    port: number | undefined,
    host: string,
    username: string,
    password: string,
    events: boolean,
  ): Manager;
}
