// A load balancer for tests that run several instances of a server: nginx from a
// scratch prefix (scripts/setup.sh installs Debian's nginx), on a free loopback port,
// round-robin over 127.0.0.1:<ports>, with no stickiness at all, so consecutive
// requests of one session land on different instances.
//
//   const lb = await startBalancer([portA, portB]);   // { url, port, dir, stop }
//
// A request whose instance refuses the connection (SIGKILLed, say) is retried on the
// next one, and so is one whose instance dies after reading it (POSTs included:
// non_idempotent); a failed instance is left out for 2 s. Streams pass through
// unbuffered (SSE), both ways. One limit, from proxy_request_buffering off: a request
// whose body was already streamed to an instance that then died (bodies past
// client_body_buffer_size, 16 KiB here, and larger, depending on how they arrive) is
// not sent again: the client gets 502.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, probeTcp, removeDir, spawnServer, terminate, trackDir, waitUntil } from './process.mjs';

const NGINX = process.env.NGINX ?? (existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx');

export function nginxConfig(dir, port, upstreamPorts) {
  const servers = upstreamPorts.map((p) => `    server 127.0.0.1:${p} max_fails=1 fail_timeout=2s;`).join('\n');
  return `# Written by pkg-tests/support/balancer.mjs; everything nginx writes stays in this dir.
# One process (no master/worker pair), so that a SIGKILL from the test's exit hook
# leaves nothing behind.
master_process off;
worker_processes 1;
# Each client connection costs two (client and upstream): hundreds of clients with
# SSE streams open and requests in flight need more than the default 1024.
worker_rlimit_nofile 16384;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;

events {
  worker_connections 8192;
}

http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;

  # Round robin (the default), no ip_hash/hash/sticky: nothing ties a client to one.
  upstream instances {
${servers}
    keepalive 256;
  }

  server {
    listen 127.0.0.1:${port};
    # Body limits are the instances' to enforce, not the balancer's.
    client_max_body_size 0;

    location / {
      proxy_pass http://instances;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      # Every request header goes through (Mcp-Session-Id, Authorization,
      # Last-Event-ID, ...), and Host as the client sent it.
      proxy_pass_request_headers on;
      proxy_set_header Host $http_host;
      proxy_buffering off;
      proxy_request_buffering off;
      proxy_read_timeout 3600s;
      proxy_send_timeout 3600s;
      proxy_connect_timeout 2s;
      proxy_next_upstream error timeout non_idempotent;
      proxy_next_upstream_tries 3;
    }
  }
}
`;
}

export async function startBalancer(upstreamPorts) {
  if (!Array.isArray(upstreamPorts) || upstreamPorts.length === 0) {
    throw new TypeError('startBalancer needs at least one upstream port');
  }
  const port = await freePort();
  const dir = trackDir(mkdtempSync(join(tmpdir(), 'nginx-test-')));
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, nginxConfig(dir, port, upstreamPorts));
  // -e: the error log before the config is read (else nginx tries /var/log/nginx).
  const child = spawnServer(NGINX, ['-p', `${dir}/`, '-c', conf, '-e', join(dir, 'error.log'), '-g', 'daemon off;'], { cwd: dir });
  try {
    await waitUntil(child, `nginx on port ${port}`, async () => (await probeTcp(port)) !== null);
  } catch (error) {
    await terminate(child, 'SIGKILL');
    try {
      error.message += `\nerror.log:\n${readFileSync(join(dir, 'error.log'), 'utf8')}`;
    } catch {
      // no log written
    }
    removeDir(dir);
    throw error;
  }
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    dir,
    /** SIGTERM (fast shutdown: open streams are cut), wait for the exit, remove the dir. */
    async stop() {
      await terminate(child, 'SIGTERM');
      removeDir(dir);
    },
  };
}
