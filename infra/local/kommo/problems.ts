import type { ServerResponse } from 'node:http';

/** Kommo's error bodies (kommo-server.md §8.2): problem+json with title, type, status, detail. */
export const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  402: 'Payment Required',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  422: 'Unprocessable Entity',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
};

export const sendProblem = (
  res: ServerResponse,
  status: number,
  detail: string,
  extra: Record<string, unknown> = {},
) => {
  res.writeHead(status, { 'content-type': 'application/problem+json' });
  res.end(
    JSON.stringify({
      title: TITLES[status] ?? 'Error',
      type: `https://httpstatus.es/${status}`,
      status,
      detail,
      ...extra,
    }),
  );
};

/** OAuth errors (§1.5, §1.7): `{hint, title, type: …/OAuthProblemJson, status, detail}`, no RFC 6749 `error`. */
export const sendOAuthProblem = (res: ServerResponse, status: number, hint: string, detail: string) => {
  res.writeHead(status, { 'content-type': 'application/problem+json' });
  res.end(
    JSON.stringify({
      hint,
      title: TITLES[status] ?? 'Error',
      type: 'https://developers.amocrm.ru/v3/errors/OAuthProblemJson',
      status,
      detail,
    }),
  );
};

export const sendHal = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/hal+json' });
  res.end(JSON.stringify(body));
};
