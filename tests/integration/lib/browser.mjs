// A minimal "browser" for the OAuth2 redirect dances in the auth tests: fetch with manual redirect
// handling and a cookie jar (oidc-provider keeps its interaction and session state in cookies).
// `browse(url)` follows redirects until one leaves for a URL `stop(url)` accepts (the client's
// redirect_uri, which nothing listens on in the raw flow) or a page answers without redirecting.

export class Browser {
  constructor() {
    this.cookies = []; // { name, value, host, path }
    this.visited = [];
  }

  cookieHeader(url) {
    const u = new URL(url);
    return this.cookies
      .filter((c) => c.host === u.host && u.pathname.startsWith(c.path))
      .map((c) => `${c.name}=${c.value}`).join('; ');
  }

  store(url, headers) {
    const u = new URL(url);
    for (const line of headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';').map((p) => p.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      let path = '/';
      let expired = false;
      for (const a of attrs) {
        const [k, v = ''] = a.split('=');
        if (k.toLowerCase() === 'path') path = v;
        if (k.toLowerCase() === 'expires' && Date.parse(v) < Date.now()) expired = true;
        if (k.toLowerCase() === 'max-age' && Number(v) <= 0) expired = true;
      }
      this.cookies = this.cookies.filter((c) => !(c.name === name && c.host === u.host && c.path === path));
      if (!expired) this.cookies.push({ name, value, host: u.host, path });
    }
  }

  async get(url) {
    const headers = {};
    const cookie = this.cookieHeader(url);
    if (cookie) headers.Cookie = cookie;
    const res = await fetch(url, { redirect: 'manual', headers });
    this.store(url, res.headers);
    this.visited.push(`${res.status} ${url}`);
    return res;
  }

  // Follows redirects from `url`; resolves { url, res } for the first URL `stop` accepts (not
  // fetched) or the first response that is not a redirect (fetched, body unread).
  async browse(url, { stop = () => false, maxHops = 20 } = {}) {
    let current = url;
    for (let hop = 0; hop < maxHops; hop++) {
      if (stop(current)) return { url: current };
      const res = await this.get(current);
      if (res.status < 300 || res.status >= 400 || !res.headers.get('location')) {
        return { url: current, res };
      }
      await res.arrayBuffer();
      current = new URL(res.headers.get('location'), current).href;
    }
    throw new Error(`too many redirects:\n${this.visited.join('\n')}`);
  }
}
