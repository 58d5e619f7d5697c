/**
 * The slice of Kommo's widget host that Callbridge uses, typed from Kommo's docs and its official TS
 * skeleton (kommo-crm/create-kommo-integration). Everything here may be missing on some accounts or
 * Kommo versions, so callers check before calling.
 */
export interface Thenable<T> {
  then(onFulfilled: (value: T) => unknown, onRejected?: (reason: unknown) => unknown): unknown;
}

export interface AjaxOptions {
  url: string;
  method?: string;
  type?: string;
  data?: string;
  contentType?: string;
  dataType?: string;
  timeout?: number;
}

export interface KommoSelf {
  get_settings(): Record<string, unknown>;
  $authorizedAjax(options: AjaxOptions): Thenable<unknown>;
  i18n?(key: string): unknown;
  langs?: Record<string, unknown>;
  system?(): { area?: string; subdomain?: string; amouser_id?: number | string; domain?: string };
  get_version?(): string;
  ns?: string;
  callbacks?: Record<string, unknown>;
}

export interface AddCallParams {
  text: string;
  date: number;
  from: string;
  to: string;
  duration?: number;
  link?: string;
  element?: { id: number; type: 'contact' | 'lead' | 'company' };
}

export interface AddErrorParams {
  header: string;
  text: string;
  date: number;
  link?: string;
}

export interface KommoApp {
  notifications?: {
    add_call?(params: AddCallParams): void;
    add_error?(params: AddErrorParams): void;
  };
  sdk?: {
    setCallingStatus?(value: boolean): unknown;
    getCallingStatus?(): boolean;
  };
  constant?(name: 'user' | 'account' | 'user_rights'): unknown;
}

/** A jQuery `$.ajax` failure: a jqXHR with a status. */
export const httpStatusOf = (reason: unknown): number | undefined => {
  if (reason && typeof reason === 'object' && 'status' in reason) {
    const status = (reason as { status: unknown }).status;
    return typeof status === 'number' ? status : undefined;
  }
  return undefined;
};

export const toPromise = <T>(thenable: Thenable<T>): Promise<T> =>
  new Promise<T>((resolve, reject) => {
    thenable.then(resolve, reject);
  });
