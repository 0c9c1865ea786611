// A static file server for the browser tests, on 127.0.0.1 at a free port: URL
// prefixes mounted on directories (longest prefix first), plus pages held in memory.
// Only what the tests need: GET, the MIME types a page loads, no directory listing.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/**
 * Serves `mounts` ({ '/web/': dir, '/': dir }) and `pages` ({ '/test.html': text }).
 * Resolves to { url, requests, close }: `url` without a trailing slash, `requests`
 * the paths asked for (to tell which files a page loaded).
 */
export async function serveStatic({ mounts = {}, pages = {} } = {}) {
  const prefixes = Object.keys(mounts).sort((a, b) => b.length - a.length);
  const requests = [];
  const server = createServer(async (request, response) => {
    const path = decodeURIComponent(new URL(request.url, 'http://localhost').pathname);
    requests.push(path);
    try {
      if (path in pages) return send(response, 200, TYPES['.html'], pages[path]);
      const prefix = prefixes.find((p) => path.startsWith(p));
      if (prefix === undefined) return send(response, 404, 'text/plain', 'not found');
      const root = normalize(mounts[prefix]);
      let file = normalize(join(root, path.slice(prefix.length)));
      if (file !== root && !file.startsWith(root.endsWith(sep) ? root : root + sep)) return send(response, 403, 'text/plain', 'outside');
      if (path.endsWith('/')) file = join(file, 'index.html');
      send(response, 200, TYPES[extname(file)] ?? 'application/octet-stream', await readFile(file));
    } catch {
      send(response, 404, 'text/plain', 'not found');
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.close(resolve);
        server.closeAllConnections();
      }),
  };
}

function send(response, status, type, body) {
  response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  response.end(body);
}
