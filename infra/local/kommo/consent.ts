/** The consent window Kommo shows at kommo.com/oauth (kommo-server.md §1.1): pick the account, Allow or Decline. */
import type { EmulatedAccount } from './model';

const escapeHtml = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );

export const consentPage = (input: {
  integrationName: string;
  clientId: string;
  state?: string;
  accounts: EmulatedAccount[];
}): string => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Grant access · Kommo emulator</title>
<style>body{font:15px system-ui;margin:3em auto;max-width:32em;color:#2e3640}button{font:inherit;padding:.5em 1.2em;margin-right:.5em}
.box{border:1px solid #d4d5d8;border-radius:6px;padding:1.2em}</style></head>
<body><div class="box">
<h1>Grant access</h1>
<p><b>${escapeHtml(input.integrationName)}</b> asks for access to your Kommo account (account data, Notification Center).</p>
<form method="post" action="/oauth/consent">
<input type="hidden" name="client_id" value="${escapeHtml(input.clientId)}">
${input.state !== undefined ? `<input type="hidden" name="state" value="${escapeHtml(input.state)}">` : ''}
<p><label>Account <select name="account_id">${input.accounts
  .map((a) => `<option value="${a.id}">${escapeHtml(a.subdomain)}.kommo.com</option>`)
  .join('')}</select></label></p>
<p><button type="submit" name="decision" value="allow" id="allow">Allow</button>
<button type="submit" name="decision" value="decline" id="decline">Decline</button></p>
</form></div></body></html>`;
