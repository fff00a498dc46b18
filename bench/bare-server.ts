// The baseline for bench/run.ts: the same hello-world handler in a bare node:http server.
import { createServer } from 'node:http';

const handler = async (event: { rawPath: string }) => ({ statusCode: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message: 'Hello, world!', path: event.rawPath }) });

const server = createServer(async (req, res) => {
  const out = await handler({ rawPath: req.url ?? '/' });
  res.writeHead(out.statusCode, { ...out.headers, 'content-length': Buffer.byteLength(out.body) });
  res.end(out.body);
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => {
  const addr = server.address();
  process.stdout.write(`listening on http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}\n`);
});
