/**
 * A link Callbridge hands to the browser (a call's recording): https only, and only in the exact form the
 * WHATWG URL parser itself produces. A URL that does not survive `new URL(x).href` unchanged carries characters
 * the parser would have escaped (a quote, `<`, a space): harmless to a parser, but exactly what breaks out of an
 * attribute when some page, Kommo's included, pastes the text into markup.
 */
export const MAX_URL_LENGTH = 2048;

/** `value` when it is a canonical https URL of at most 2048 characters, else undefined. */
export const canonicalHttpsUrl = (value: string): string | undefined => {
  if (value.length > MAX_URL_LENGTH) return undefined;
  try {
    const url = new URL(value);
    return url.protocol === 'https:' && url.href === value ? value : undefined;
  } catch {
    return undefined;
  }
};

/**
 * A URL a provider sent, made canonical: its https form as the parser writes it (quotes and markup
 * percent-encoded), or undefined for anything else. Providers' own recording links survive unchanged.
 */
export const toCanonicalHttpsUrl = (value: string | undefined): string | undefined => {
  if (!value || value.length > MAX_URL_LENGTH) return undefined;
  try {
    const url = new URL(value);
    return url.protocol === 'https:' ? canonicalHttpsUrl(url.href) : undefined;
  } catch {
    return undefined;
  }
};
