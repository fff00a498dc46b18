// A fetch-style handler (the Workers model): a real Request in, a Response out.
export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === '/site/health') return Response.json({ ok: true });
    return new Response(`<h1>Shop</h1><p>You asked for ${url.pathname}</p>`, { headers: { 'content-type': 'text/html; charset=utf-8' } });
  },
};
