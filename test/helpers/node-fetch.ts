/**
 * fetch over node:http, for backend code running inside a happy-dom test: happy-dom replaces the global
 * fetch with one that enforces browser CORS, which a server-to-server call to Kommo never meets.
 */
import { request } from 'node:http';

export const nodeFetch = (url: string, init: RequestInit = {}): Promise<Response> =>
  new Promise((resolve, reject) => {
    const headers = Object.fromEntries(new Headers(init.headers).entries());
    const req = request(
      url,
      { method: init.method ?? 'GET', headers, signal: init.signal ?? undefined },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          const body = status === 204 || status === 304 ? null : Buffer.concat(chunks).toString('utf8');
          const out = new Headers();
          for (const [key, value] of Object.entries(res.headers)) {
            if (typeof value === 'string') out.set(key, value);
          }
          resolve(new Response(body, { status, headers: out }));
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (typeof init.body === 'string') req.write(init.body);
    req.end();
  });
