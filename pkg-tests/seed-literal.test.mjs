// The seed API (/work/shared/seed/000_86e5a05cae0698db.txt, "Agent 6: Session
// Management Fix Brief") transcribed literally, against the installed package: its
// five tests ("should persist session state" has no code in the brief, so it is the
// brief's own SessionManager sample, section 2, checked call by call) and its
// SessionCleanupService (section 6), with the brief's names, argument shapes, data
// values and `await`s. The only deviations:
//
//   1. jest's `expect` is a tiny shim over node:assert (below), so the assertions
//      read as in the seed; `jest.setTimeout(30000)` is dropped (nothing here waits
//      on the real clock). TypeScript annotations are dropped (this is JS).
//   2. Mocked timers instead of real sleeps: beforeEach enables node:test's
//      `mock.timers` for Date, setTimeout and setInterval *before* the literal
//      `new SessionManager()`, which captures `Date.now` when it is constructed and
//      so reads the mocked clock (and arms its one timer on the mocked setTimeout).
//      The seed's `new Promise(resolve => setTimeout(resolve, 1500))` is kept, but is
//      resolved by `mock.timers.tick(1500)` between creating and awaiting it.
//      (Date mocking through `enable({ apis: [...] })` was checked on Node 20.20; on
//      a Node without it, construct `new SessionManager({ clock: () => mockNow })`
//      instead.) afterEach also disposes the manager and resets the mocked timers.
//   3. `MCPClient`, the brief's test harness (not part of the package), is a small
//      in-process client below: each of its methods is one call of the package's
//      public SessionManager API.
//
// Tests added beyond the seed's: the SessionManager sample's calls (as "should
// persist session state") and SessionCleanupService run against the package.
import { describe, it, beforeEach, afterEach, mock } from 'node:test';
import assert from 'node:assert/strict';
import { SessionManager, SessionError } from 'mcp-session-core';

// ----- deviation 1: jest's `expect`, as far as this file uses it -----

function expect(actual) {
  return {
    toBeDefined: () => assert.notStrictEqual(actual, undefined, 'expected a defined value'),
    toBe: (expected) => assert.strictEqual(actual, expected),
    toEqual: (expected) => assert.deepStrictEqual(actual, expected),
    toBeInstanceOf: (type) =>
      assert.ok(actual instanceof type, `expected an instance of ${type.name}, got ${actual}`),
    not: {
      toBe: (expected) => assert.notStrictEqual(actual, expected),
    },
  };
}

// ----- deviation 3: the brief's MCPClient, in-process over the package -----

class MCPClient {
  #sessionIds = new Set();

  constructor({ sessionManager, timeout }) {
    this.sessionManager = sessionManager;
    this.timeout = timeout; // every call is in-process and synchronous: nothing to time out
  }

  async createSession(config) {
    const sessionId = this.sessionManager.createSession(config);
    this.#sessionIds.add(sessionId);
    return sessionId;
  }

  async request(method, params) {
    switch (method) {
      case 'session/update':
        this.sessionManager.updateSessionState(params.sessionId, params.state);
        return {};
      case 'tools/list': {
        const { sessionId } = params;
        try {
          this.sessionManager.beginRequest({ sessionId, kind: 'other' });
        } catch (error) {
          // "Attempting to use expired session should create new one"
          if (error instanceof SessionError && error.code === 'SESSION_EXPIRED') {
            const newSessionId = this.sessionManager.renewSession(sessionId);
            this.#sessionIds.add(newSessionId);
            return { newSessionId };
          }
          throw error;
        }
        this.sessionManager.endRequest(sessionId);
        return { tools: [] };
      }
      default:
        throw new Error(`MCPClient: no method ${method}`);
    }
  }

  async disconnect() {
    for (const sessionId of this.#sessionIds) this.sessionManager.disconnectSession(sessionId);
  }

  async resumeSession(sessionId) {
    const session = this.sessionManager.resumeSession(sessionId);
    this.#sessionIds.add(sessionId);
    return session;
  }

  async close() {
    // closeSession answers false (and changes nothing) for a session no longer live.
    for (const sessionId of this.#sessionIds) this.sessionManager.closeSession(sessionId);
    this.#sessionIds.clear();
  }
}

// ----- section 6 of the seed, verbatim (as JS) -----

class SessionCleanupService {
  cleanupInterval = null;

  start(sessionManager, intervalMs = 60000) {
    this.cleanupInterval = setInterval(async () => {
      await this.cleanupExpiredSessions(sessionManager);
    }, intervalMs);
  }

  stop() {
    if (this.cleanupInterval) {
      clearInterval(this.cleanupInterval);
      this.cleanupInterval = null;
    }
  }

  async cleanupExpiredSessions(sessionManager) {
    const now = new Date();
    const sessions = await sessionManager.getAllSessions();

    for (const session of sessions) {
      const inactiveTime = now.getTime() - session.lastActivity.getTime();

      // Expire after 30 minutes of inactivity
      if (inactiveTime > 30 * 60 * 1000) {
        await sessionManager.expireSession(session.id);
      }
    }
  }
}

/** Advances the mocked clock, then lets the async interval callbacks finish (setImmediate is not mocked). */
async function advance(ms) {
  mock.timers.tick(ms);
  await new Promise((resolve) => setImmediate(resolve));
}

// ----- the seed's tests -----

describe('Session Management', () => {
  let mcpClient;
  let sessionManager;

  // Increase timeout for session tests
  // (jest.setTimeout(30000) dropped: no test waits on the real clock)

  beforeEach(async () => {
    mock.timers.enable({ apis: ['Date', 'setTimeout', 'setInterval'] }); // deviation 2

    sessionManager = new SessionManager();
    mcpClient = new MCPClient({
      sessionManager,
      timeout: 10000, // Explicit timeout
    });

    // Ensure clean session state
    await sessionManager.clearAllSessions();
  });

  afterEach(async () => {
    // Proper cleanup
    await mcpClient.close();
    await sessionManager.clearAllSessions();

    sessionManager.dispose(); // deviation 2
    mock.timers.reset();
  });

  it('should create new session successfully', async () => {
    const sessionId = await mcpClient.createSession({
      clientId: 'test-client',
      capabilities: ['tools', 'resources'],
    });

    expect(sessionId).toBeDefined();
    expect(typeof sessionId).toBe('string');

    // Verify session is active
    const session = await sessionManager.getSession(sessionId);
    expect(session).toBeDefined();
    expect(session.status).toBe('active');
  });

  // "should persist session state": the brief gives no test for it, only its
  // SessionManager sample (section 2); these check each of the sample's calls
  // against the package.
  describe('should persist session state (the seed\'s SessionManager sample)', () => {
    it('createSession(config) returns a string ID; getSession gives clientId and the capabilities list back as given', async () => {
      const capabilities = ['tools', 'resources'];
      const sessionId = await sessionManager.createSession({ clientId: 'test-client', capabilities });
      expect(typeof sessionId).toBe('string');

      const session = await sessionManager.getSession(sessionId);
      expect(session.id).toBe(sessionId);
      expect(session.clientId).toBe('test-client');
      expect(session.capabilities).toEqual(['tools', 'resources']);
    });

    it('capabilities as an MCP object are given back as given', async () => {
      const sessionId = await sessionManager.createSession({
        clientId: 'test-client',
        capabilities: { tools: {} },
      });
      const session = await sessionManager.getSession(sessionId);
      expect(session.capabilities).toEqual({ tools: {} });
    });

    it('a new session is active with state {} and Date times; getSession counts as activity', async () => {
      const sessionId = await sessionManager.createSession({ clientId: 'test-client' });
      const createdAt = Date.now();

      await advance(1000);
      const session = await sessionManager.getSession(sessionId);
      expect(session.status).toBe('active');
      expect(session.state).toEqual({});
      expect(session.createdAt).toBeInstanceOf(Date);
      expect(session.lastActivity).toBeInstanceOf(Date);
      // The manager reads the mocked clock: created at the mocked start, touched 1 s later.
      expect(session.createdAt.getTime()).toBe(createdAt);
      expect(session.lastActivity.getTime()).toBe(createdAt + 1000);
    });

    it('updateSessionState(sessionId, updates) merges top-level keys ({ ...state, ...updates })', async () => {
      const sessionId = await sessionManager.createSession({ clientId: 'test-client' });
      await sessionManager.updateSessionState(sessionId, { counter: 5, lastTool: 'list_nodes' });
      await sessionManager.updateSessionState(sessionId, { counter: 6 });

      const session = await sessionManager.getSession(sessionId);
      expect(session.state).toEqual({ counter: 6, lastTool: 'list_nodes' });
    });

    it('clearAllSessions() closes every session', async () => {
      const first = await sessionManager.createSession({ clientId: 'client-0' });
      const second = await sessionManager.createSession({ clientId: 'client-1' });

      await sessionManager.clearAllSessions();

      expect(sessionManager.getAllSessions().length).toBe(0);
      expect((await sessionManager.getSession(first)).status).toBe('closed');
      expect((await sessionManager.getSession(second)).status).toBe('closed');
      // The seed's _updateSessionState throws for a session that is gone.
      assert.throws(() => sessionManager.updateSessionState(first, { counter: 1 }), {
        code: 'SESSION_CLOSED',
      });
    });

    it('createSession accepts `timeout` (ms) as the session\'s idle timeout', async () => {
      const sessionId = await sessionManager.createSession({ clientId: 'test-client', timeout: 1000 });
      const session = await sessionManager.getSession(sessionId);
      expect(session.expiresAt.getTime()).toBe(Date.now() + 1000);
    });
  });

  it('should handle concurrent sessions', async () => {
    const numSessions = 5;
    const sessionPromises = [];

    // Create multiple sessions concurrently
    for (let i = 0; i < numSessions; i++) {
      sessionPromises.push(
        mcpClient.createSession({
          clientId: `client-${i}`,
          capabilities: ['tools'],
        }),
      );
    }

    const sessionIds = await Promise.all(sessionPromises);

    // All sessions should be unique
    const uniqueIds = new Set(sessionIds);
    expect(uniqueIds.size).toBe(numSessions);

    // Each session should be independently accessible
    const verifyPromises = sessionIds.map(async (id) => {
      const session = await sessionManager.getSession(id);
      expect(session).toBeDefined();
      expect(session.status).toBe('active');
    });

    await Promise.all(verifyPromises);
  });

  it('should recover session after disconnect', async () => {
    // Create session
    const sessionId = await mcpClient.createSession({
      clientId: 'test-client',
      capabilities: ['tools'],
    });

    // Store some state
    await mcpClient.request('session/update', {
      sessionId,
      state: { counter: 5, lastTool: 'list_nodes' },
    });

    // Simulate disconnect
    await mcpClient.disconnect();

    // Reconnect with same session ID
    const newClient = new MCPClient({ sessionManager });
    await newClient.resumeSession(sessionId);

    // Verify state is preserved
    const session = await sessionManager.getSession(sessionId);
    expect(session.state.counter).toBe(5);
    expect(session.state.lastTool).toBe('list_nodes');
  });

  it('should handle session timeouts gracefully', async () => {
    // Create session with short timeout
    const sessionId = await mcpClient.createSession({
      clientId: 'test-client',
      capabilities: ['tools'],
      timeout: 1000, // 1 second
    });

    // Wait for timeout (deviation 2: the mocked clock is ticked, nothing sleeps)
    const wait = new Promise(resolve => setTimeout(resolve, 1500));
    mock.timers.tick(1500);
    await wait;

    // Session should be expired
    const session = await sessionManager.getSession(sessionId);
    expect(session.status).toBe('expired');

    // Attempting to use expired session should create new one
    const response = await mcpClient.request('tools/list', { sessionId });
    expect(response.newSessionId).toBeDefined();
    expect(response.newSessionId).not.toBe(sessionId);
  });

  it('SessionCleanupService expires a session after 30 minutes of inactivity; an active one survives', async () => {
    // Both sessions get a 2-hour idle timeout, so that the package's own
    // (30-minute, the default) does not end them first: only the service can.
    const idleTimeoutMs = 2 * 60 * 60 * 1000;
    const idleId = await mcpClient.createSession({ clientId: 'idle-client', idleTimeoutMs });
    const activeId = await mcpClient.createSession({ clientId: 'active-client', idleTimeoutMs });

    const cleanupService = new SessionCleanupService();
    cleanupService.start(sessionManager); // every 60000 ms
    try {
      // 30 minutes: a cleanup every minute, a request on the active session after each.
      for (let minute = 1; minute <= 30; minute++) {
        await advance(60 * 1000);
        expect(await mcpClient.request('tools/list', { sessionId: activeId })).toEqual({ tools: [] });
      }
      // Inactive for exactly 30 minutes is not yet "more than 30 minutes".
      // (getAllSessions, unlike getSession, does not count as activity.)
      expect(sessionManager.getAllSessions().map((s) => s.id).sort()).toEqual([idleId, activeId].sort());

      // Minute 31: the idle session is expired by the service, the active one survives.
      await advance(60 * 1000);
      expect(sessionManager.getAllSessions().map((s) => s.id)).toEqual([activeId]);
      const expired = await sessionManager.getSession(idleId);
      expect(expired.status).toBe('expired');
      expect(expired.endReason).toBe('requested'); // by expireSession, not by the package's idle timeout
      expect((await sessionManager.getSession(activeId)).status).toBe('active');
    } finally {
      cleanupService.stop();
    }

    // Stopped: 40 idle minutes later the active session is still there.
    expect(cleanupService.cleanupInterval).toBe(null);
    await advance(40 * 60 * 1000);
    expect(sessionManager.getAllSessions().map((s) => s.id)).toEqual([activeId]);
  });
});
