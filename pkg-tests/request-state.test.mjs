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
