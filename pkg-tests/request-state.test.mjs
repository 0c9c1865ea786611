// The sealed requestState codec through the installed package, in the v2 SDK's
// RequestStateCodec shape: round trip, tampered, expired, replayed, bound to another
// user or request, key rotation, the ledger bound, and the reason codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSealedRequestStateCodec } from 'mcp-session-core';

const K1 = { id: 'k1', key: new Uint8Array(32).fill(1) };
const K2 = { id: 'k2', key: new Uint8Array(32).fill(2) };
const alice = { user: 'alice', method: 'tools/call', tool: 'deploy' };

function codec(extra = {}) {
  let clock = 1_800_000_000_000;
  const c = createSealedRequestStateCodec({
    key: K1,
    ttlSeconds: 60,
    bind: (ctx) => ({ principal: ctx.user, request: `${ctx.method}\0${ctx.tool}` }),
    now: () => clock,
    insecureSeed: 5,
    ...extra,
  });
  return { c, advance: (ms) => (clock += ms) };
}

async function reason(promise) {
  try {
    await promise;
  } catch (error) {
    return error.message;
  }
  assert.fail('expected a refusal');
}

test('a token round trips its payload and hides it from the client', async () => {
  const { c } = codec();
  const token = await c.mint({ step: 2, secret: 'plan-b' }, alice);
  assert.match(token, /^rs1\.k1\./);
  assert.ok(!Buffer.from(token.split('.')[2], 'base64url').toString('latin1').includes('plan-b'));
  assert.deepEqual(await c.verify(token, alice), { step: 2, secret: 'plan-b' });
});

test('tampered, expired, replayed and misbound tokens are refused with the reason', async () => {
  const { c, advance } = codec();
  const token = await c.mint({ n: 1 }, alice);
  const last = token.at(-2) === 'A' ? 'B' : 'A';
  assert.equal(await reason(c.verify(token.slice(0, -2) + last + token.at(-1), alice)), 'mac');
  assert.equal(await reason(c.verify('v1.e30.AAAA', alice)), 'malformed');
  assert.equal(await reason(c.verify(token, { ...alice, user: 'bob' })), 'bind');
  assert.equal(await reason(c.verify(token, { ...alice, tool: 'delete' })), 'bind');
  assert.deepEqual(await c.verify(token, alice), { n: 1 });
  assert.equal(await reason(c.verify(token, alice)), 'replayed');
  const later = await c.mint({ n: 2 }, alice);
  advance(60_000);
  assert.equal(await reason(c.verify(later, alice)), 'expired');
});

test('tokens of a rotated-out key verify until the key is removed', async () => {
  const { c } = codec();
  const old1 = await c.mint('a', alice);
  const old2 = await c.mint('b', alice);
  c.rotate(K2);
  assert.deepEqual(c.keyIds(), ['k2', 'k1']);
  assert.match(await c.mint('c', alice), /^rs1\.k2\./);
  assert.equal(await c.verify(old1, alice), 'a');
  c.removeKey('k1');
  assert.equal(await reason(c.verify(old2, alice)), 'mac');
});

test('a full ledger refuses rather than forget, and expiry frees room', async () => {
  const { c, advance } = codec({ maxLedgerEntries: 1 });
  const a = await c.mint('a', alice);
  const b = await c.mint('b', alice);
  await c.verify(a, alice);
  assert.equal(await reason(c.verify(b, alice)), 'ledger_full');
  assert.equal(c.ledgerSize(), 1);
  advance(59_999);
  assert.equal(await reason(c.verify(a, alice)), 'replayed');
  const fresh = await c.mint('c', alice);
  advance(1);
  assert.equal(await c.verify(fresh, alice), 'c');
  assert.equal(c.ledgerSize(), 1);
});

test('mint needs ctx when bind is configured, and keys must be 32 bytes', async () => {
  const { c } = codec();
  await assert.rejects(c.mint('x'), TypeError);
  assert.throws(() => createSealedRequestStateCodec({ key: { id: 'k', key: new Uint8Array(16) } }), {
    name: 'RequestStateError',
  });
  const anon = createSealedRequestStateCodec({ key: K1 });
  assert.equal(await anon.verify(await anon.mint('x'), undefined), 'x');
});

// The manager's codec keeps the single-use ledger in the manager's store: the
// timer sweeps it, the file store saves each redemption, so a replay after a
// crash is refused; a redemption the store cannot save is refused, never kept.
test("a manager's codec: single use survives a crash and restart through the file store", async () => {
  const { SessionManager, FileSessionStore } = await import('mcp-session-core');
  const { manualClock } = await import('./clock.mjs');
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'mcp-ledger-'));
  const clock = manualClock();
  const open = () => {
    const manager = new SessionManager({ clock, maxRedeemedTokens: 2 });
    new FileSessionStore({ dir }).attach(manager);
    const c = manager.createRequestStateCodec({
      key: K1,
      ttlSeconds: 60,
      bind: (ctx) => ({ principal: ctx.user, request: `${ctx.method}\0${ctx.tool}` }),
    });
    return { manager, c };
  };
  const first = open();
  const token = await first.c.mint({ step: 1 }, alice);
  const other = await first.c.mint({ step: 2 }, alice);
  assert.deepEqual(await first.c.verify(token, alice), { step: 1 });
  assert.equal(await reason(first.c.verify(token, alice)), 'replayed');
  assert.equal(first.c.ledgerSize(), 1);
  assert.equal(first.manager.stats().redeemedTokens, 1);

  // A crash: dropped without a flush or a close. The second process refuses the
  // replay, and still redeems the token nobody used.
  const second = open();
  assert.equal(await reason(second.c.verify(token, alice)), 'replayed');
  assert.deepEqual(await second.c.verify(other, alice), { step: 2 });
  // The bound is the store's maxRedeemedTokens: full, it refuses.
  const third = await second.c.mint({ step: 3 }, alice);
  assert.equal(await reason(second.c.verify(third, alice)), 'ledger_full');

  // The manager's timer forgets entries at their tokens' expiry.
  clock.advance(60_000);
  await new Promise((resolve) => setImmediate(resolve));
  second.manager.cleanupExpiredSessions();
  assert.equal(second.manager.stats().redeemedTokens, 0);
  assert.equal(await reason(second.c.verify(token, alice)), 'expired');
  first.manager.dispose();
  second.manager.dispose();
});

test("a manager's codec: a redemption the store cannot save is refused with STORAGE_FAILED and not kept", async () => {
  const { SessionManager } = await import('mcp-session-core');
  const { manualClock } = await import('./clock.mjs');
  const manager = new SessionManager({ clock: manualClock() });
  let failing = true;
  const saved = [];
  manager.attachStore({
    open: () => ({ sessions: 0, restored: 0 }),
    save: (changes) => {
      if (failing) throw new Error('disk full');
      saved.push(changes.records);
    },
  });
  const c = manager.createRequestStateCodec({ key: K1 });
  const token = await c.mint({ pay: 1 });
  await assert.rejects(c.verify(token), (error) => error.code === 'STORAGE_FAILED');
  assert.equal(c.ledgerSize(), 0, 'the refused redemption is not in the ledger');
  failing = false;
  assert.deepEqual(await c.verify(token), { pay: 1 });
  assert.equal(saved.length, 1);
  assert.match(saved[0], /"redeemed":\[\{"expiresAt":\d+,"id":"[A-Za-z0-9_-]{22}"\}\]/);
  assert.equal(await reason(c.verify(token)), 'replayed');
  manager.dispose();
});
