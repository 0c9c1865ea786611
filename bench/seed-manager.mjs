// A session manager written the way the seed API writes one: a Map of session
// objects with Date fields, merge-by-spread state updates, and an interval sweep
// that scans every session. The baseline the package is measured against.
// `clock` (ms since the epoch, default Date.now) is read wherever the seed reads the
// time (the seed's `new Date()` is `new Date(this.clock())` here), so a benchmark can
// run it on the same manual clock as the package.
import { randomUUID } from 'node:crypto';

export class SeedSessionManager {
  constructor({ sessionTimeout = 30 * 60 * 1000, cleanupInterval = 60_000, clock = Date.now } = {}) {
    this.sessions = new Map();
    this.clock = clock;
    this.sessionTimeout = sessionTimeout;
    this.cleanupTimer = setInterval(() => this.cleanupExpiredSessions(), cleanupInterval);
    this.cleanupTimer.unref();
  }

  createSession(config = {}) {
    const id = randomUUID();
    const now = new Date(this.clock());
    const timeout = config.timeout ?? this.sessionTimeout;
    this.sessions.set(id, {
      id,
      clientId: config.clientId,
      capabilities: config.capabilities ?? {},
      status: 'active',
      state: config.state ?? {},
      createdAt: now,
      lastActivity: now,
      expiresAt: new Date(now.getTime() + timeout),
      timeout,
    });
    return id;
  }

  getSession(id) {
    const session = this.sessions.get(id);
    if (!session) return null;
    if (session.expiresAt < new Date(this.clock())) {
      session.status = 'expired';
      return session;
    }
    session.lastActivity = new Date(this.clock());
    session.expiresAt = new Date(session.lastActivity.getTime() + session.timeout);
    return session;
  }

  updateSessionState(id, updates) {
    const session = this.getSession(id);
    if (!session || session.status !== 'active') throw new Error('Session not found');
    session.state = { ...session.state, ...updates };
    return session.state;
  }

  closeSession(id) {
    return this.sessions.delete(id);
  }

  cleanupExpiredSessions() {
    const now = new Date(this.clock());
    const expired = [];
    for (const [id, session] of this.sessions) {
      if (session.expiresAt < now) {
        this.sessions.delete(id);
        expired.push(id);
      }
    }
    return expired;
  }

  dispose() {
    clearInterval(this.cleanupTimer);
  }
}
