/** URL variants a provider may have signed: with and without the scheme's default port. */
export const portVariants = (url: string): string[] => {
  const match = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)(.*)$/is.exec(url);
  if (!match) return [url];
  const [, scheme = '', authority = '', rest = ''] = match;
  const host = authority.replace(/:\d+$/, '');
  const port = scheme.toLowerCase() === 'https://' ? ':443' : ':80';
  return [...new Set([url, `${scheme}${host}${rest}`, `${scheme}${host}${port}${rest}`])];
};
