// Resource exhaustion (docs/BAD-INPUTS.md): what an attacker's requests
// can make the server hold, through real HTTP on Express and node:http.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileSessionStore } from 'mcp-session-core/mcp';
import { SessionManager } from 'mcp-session-core';
import { INIT, MCP_HEADERS, initialize, jsonRpcError, listen, raw } from './http.mjs';

const privateDir = () => fs.mkdtempSync(join(tmpdir(), 'mcp-exhaustion-'));

for (const stack of ['express', 'node:http']) {
  test(`${stack}: initialize requests the transport would refuse create nothing`, async () => {
    const server = await listen(stack);
    try {
      const refusals = [
        [{ 'content-type': 'application/json', accept: 'application/json' }, INIT, 406],
        [{ 'content-type': 'application/json', accept: 'text/event-stream' }, INIT, 406],
        [{ 'content-type': 'text/plain', accept: MCP_HEADERS.accept }, INIT, 415],
        [MCP_HEADERS, [INIT, { ...INIT, id: 2 }], 400],
        [MCP_HEADERS, { ...INIT, id: undefined }, 400],
        [MCP_HEADERS, { ...INIT, params: { ...INIT.params, clientInfo: { name: 'no version' } } }, 400],
        [MCP_HEADERS, { ...INIT, params: { ...INIT.params, protocolVersion: 7 } }, 400],
      ];
      for (let round = 0; round < 3; round++) {
        for (const [headers, body, status] of refusals) {
          const res = await raw(server.url, { headers, body });
          assert.equal(res.status, status, JSON.stringify(headers) + JSON.stringify(body));
          jsonRpcError(res);
        }
      }
      assert.equal(server.mcp.sessions.stats().live, 0, 'no refused initialize left a session');
      assert.equal(server.mcp.transports, 0, 'nor a transport');
    } finally {
      await server.close();
    }
  });

  test(`${stack}: anonymous sessions share one per-principal cap; a named user still gets in`, async () => {
    const server = await listen(stack, {
      principal: (req) => req.headers.authorization?.slice('Bearer '.length),
      sessions: { maxSessionsPerPrincipal: 3, maxSessions: 50 },
    });
    try {
      for (let i = 0; i < 3; i++) assert.equal((await initialize(server.url)).res.status, 200);
      const flood = (await initialize(server.url)).res;
      assert.equal(flood.status, 429);
      assert.ok(Number(flood.headers['retry-after']) >= 1, '429 carries Retry-After');
      assert.equal(server.mcp.sessions.stats().live, 3);
      assert.equal((await initialize(server.url, { authorization: 'Bearer alice' })).res.status, 200);
    } finally {
      await server.close();
    }
  });

  test(`${stack}: requests in flight on one session are capped (429 with Retry-After)`, async () => {
    const server = await listen(stack, { sessions: { maxInFlightPerSession: 2 } });
    try {
      const { id } = await initialize(server.url);
      const call = (ms, n) =>
        raw(server.url, {
          headers: { ...MCP_HEADERS, 'mcp-session-id': id },
          body: { jsonrpc: '2.0', id: 10 + n, method: 'tools/call', params: { name: 'wait', arguments: { ms } } },
        });
      const slow = [call(400, 1), call(400, 2)];
      await new Promise((resolve) => setTimeout(resolve, 100));
      const third = await call(0, 3);
      assert.equal(third.status, 429);
      assert.equal(jsonRpcError(third).code, -32000);
      assert.ok(Number(third.headers['retry-after']) >= 1);
      for (const res of await Promise.all(slow)) assert.equal(res.status, 200);
      assert.equal((await call(0, 4)).status, 200, 'room again once they finished');
    } finally {
      await server.close();
    }
  });

  test(`${stack}: a storage failure reaches the client as a generic 503 with Retry-After, no path`, async () => {
    const dir = privateDir();
    let failing = false;
    const io = {
      ...fs,
      writeSync: (fd, buffer, offset, length) => {
        if (failing) throw Object.assign(new Error(`ENOSPC: no space left on device, write '${dir}/journal.log'`), { code: 'ENOSPC' });
        return fs.writeSync(fd, buffer, offset, length);
      },
    };
    const seen = [];
    const server = await listen(stack, { store: new FileSessionStore({ dir, io }), onError: (e) => seen.push(e) });
    try {
      failing = true;
      const res = (await initialize(server.url)).res;
      assert.equal(res.status, 503);
      assert.ok(Number(res.headers['retry-after']) >= 1);
      assert.equal(jsonRpcError(res).message, 'Session storage is unavailable; retry later');
      assert.ok(!res.text.includes(dir) && !res.text.includes('ENOSPC'), 'nothing of the disk reaches the client');
      assert.ok(seen.some((e) => e.code === 'STORAGE_FAILED' && String(e.message).includes('ENOSPC')), 'the detail went to onError');
    } finally {
      failing = false;
      await server.close();
    }
  });
}

test('the file store refuses a data directory that is a symbolic link or writable by others, and never follows a planted link', () => {
  const parent = privateDir();
  const real = join(parent, 'real');
  fs.mkdirSync(real, { mode: 0o700 });
  const link = join(parent, 'link');
  fs.symlinkSync(real, link);
  const refused = (dir, why) => {
    const m = new SessionManager();
    assert.throws(() => new FileSessionStore({ dir }).attach(m), (e) => e.code === 'STORAGE_FAILED' && why.test(e.message), dir);
    assert.equal(m.stats().live, 0);
    m.dispose();
  };
  refused(link, /symbolic link/);
  const open = join(parent, 'open');
  fs.mkdirSync(open);
  fs.chmodSync(open, 0o777);
  refused(open, /writable by others/);

  // A link planted where a snapshot or a journal segment is read from (to a file
  // the attacker wants read, or written).
  const victim = join(parent, 'victim.txt');
  fs.writeFileSync(victim, 'precious');
  for (const name of ['journal.log', 'journal.1.log', 'snapshot.3.json']) {
    const dir = join(parent, `data-${name}`);
    fs.mkdirSync(dir, { mode: 0o700 });
    fs.symlinkSync(victim, join(dir, name));
    refused(dir, /ELOOP|symbolic|link/i);
    assert.equal(fs.readFileSync(victim, 'utf8'), 'precious', `the link at ${name} was not followed`);
  }

  // A link planted at the old fixed temporary name is removed, not written through.
  const dir2 = join(parent, 'data2');
  fs.mkdirSync(dir2, { mode: 0o700 });
  fs.symlinkSync(victim, join(dir2, 'snapshot.json.tmp'));
  const store = new FileSessionStore({ dir: dir2 });
  const m = new SessionManager();
  store.attach(m);
  m.createSession();
  store.compact();
  store.close();
  m.dispose();
  assert.equal(fs.readFileSync(victim, 'utf8'), 'precious');
  assert.ok(!fs.readdirSync(dir2).some((name) => name.endsWith('.tmp')), 'no temporary file is left');
});

for (const stack of ['express', 'node:http']) {
  test(`${stack}: a store at maxTotalBytes refuses new sessions with 503 and Retry-After, and keeps what it has`, async () => {
    const dir = privateDir();
    const big = { name: 'probe', version: '1', pad: 'p'.repeat(7_000) };
    const server = await listen(stack, { store: new FileSessionStore({ dir }), sessions: { maxTotalBytes: 100_000 } });
    let live = 0;
    try {
      for (let i = 0; i < 40; i++) {
        const res = await raw(server.url, { headers: MCP_HEADERS, body: { ...INIT, params: { ...INIT.params, clientInfo: big } } });
        if (res.status === 200) {
          live += 1;
          continue;
        }
        assert.equal(res.status, 503);
        assert.ok(Number(res.headers['retry-after']) >= 1);
        assert.match(jsonRpcError(res).message, /storage is full/i);
        break;
      }
      assert.ok(live > 3 && live < 40, `${live} sessions fit`);
      const stats = server.mcp.sessions.stats();
      assert.equal(stats.live, live);
      assert.ok(stats.totalBytes <= 100_000);
      const oversized = { ...INIT, params: { ...INIT.params, clientInfo: { name: 'x', version: '1', pad: 'q'.repeat(9_000) } } };
      assert.equal((await raw(server.url, { headers: MCP_HEADERS, body: oversized })).status, 400, 'clientInfo over 8 KiB');
    } finally {
      await server.close();
    }
    const restarted = new SessionManager();
    const store = new FileSessionStore({ dir });
    assert.equal(store.attach(restarted).restore.restored, live, 'everything kept restarts');
    store.close();
    restarted.dispose();
  });
}

test('a store past the 512 MB a JS string can hold is written and restarted piece by piece', () => {
  const dir = privateDir();
  const limits = { maxSessions: 20_000, maxTotalBytes: 2 ** 31 };
  const m = new SessionManager(limits);
  const blob = 'x'.repeat(60_000);
  const ids = [];
  for (let i = 0; i < 9_300; i++) ids.push(m.createSession({ state: { i, blob } }));
  assert.ok(m.stats().totalBytes > 0x1fffffe8, 'more than the longest JS string');
  const store = new FileSessionStore({ dir });
  store.attach(m); // compacts: the whole store goes to disk as it is read out
  store.close();
  m.dispose();
  const [snapshot] = fs.readdirSync(dir).filter((name) => /^snapshot\.\d+\.bin$/.test(name));
  assert.ok(fs.statSync(join(dir, snapshot)).size > 0x1fffffe8, 'the snapshot is that large too');
  const again = new SessionManager(limits);
  const reopened = new FileSessionStore({ dir });
  const report = reopened.attach(again);
  assert.equal(report.restore.restored, ids.length);
  for (const k of [0, 4_650, 9_299]) assert.equal(again.getSession(ids[k]).state.i, k);
  reopened.close();
  again.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('close() never throws whatever the disk does, and a failed compaction never blocks the next start', () => {
  const dir = privateDir();
  let failRenames = false;
  const io = {
    ...fs,
    renameSync: (from, to) => {
      if (failRenames) throw Object.assign(new Error(`EIO: i/o error, rename '${from}'`), { code: 'EIO' });
      return fs.renameSync(from, to);
    },
  };
  const errors = [];
  const m = new SessionManager();
  const store = new FileSessionStore({ dir, io, onError: (e) => errors.push(e) });
  store.attach(m);
  const id = m.createSession({ state: { kept: true } });
  failRenames = true;
  assert.doesNotThrow(() => store.close(), 'a shutdown finishes');
  assert.ok(errors.some((e) => e.code === 'STORAGE_FAILED' && e.reason === 'EIO'), 'the failure went to onError');
  m.dispose();
  failRenames = false;
  const again = new SessionManager();
  const reopened = new FileSessionStore({ dir });
  assert.equal(reopened.attach(again).restore.restored, 1, 'the journal still had it');
  assert.deepEqual(again.getSession(id).state, { kept: true });
  assert.ok(!fs.readdirSync(dir).some((name) => name.endsWith('.tmp')), 'the failed compaction left nothing behind');
  reopened.close();
  again.dispose();
});
