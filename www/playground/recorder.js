// The playground's record of calls: each call made on the manager, with its
// arguments, the virtual time and what it answered (a result or a typed error), and
// the export of that record as a node:test file that replays it on a manual clock
// against the Node package and asserts the same answers.

/**
 * What a call answered, in a form that compares equal when the answers are equal:
 * `{ result }` (nothing for undefined), or the typed error's `{ code, message }`.
 * The exported test carries this very function's source, so both sides compare the
 * same way.
 */
export function outcome(call) {
  try {
    const result = call();
    return result === undefined ? {} : { result };
  } catch (error) {
    return { error: { code: error?.code ?? error?.name ?? 'Error', message: String(error?.message ?? error) } };
  }
}

/** JS source of a value recorded as JSON (results, arguments). An object or array is
 * written as `JSON.parse` of a string literal, not as a literal: in an object literal
 * an own `__proto__` key (which a patch parsed from JSON may hold) sets the prototype
 * instead, and the replay would pass something else than was recorded. */
const js = (value) =>
  value !== null && typeof value === 'object' ? `JSON.parse(${JSON.stringify(JSON.stringify(value))})` : JSON.stringify(value);

export class Recorder {
  /** `start` and `seed` are the manager's: the replay needs both to agree. */
  constructor({ start, seed }) {
    this.start = start;
    this.seed = seed;
    /** { kind: 'call', method, args, at, outcome } or { kind: 'advance', ms, at }. */
    this.entries = [];
  }

  /** Runs `manager[method](...args)` at virtual time `at` and records it. */
  call(manager, method, args, at) {
    const answer = outcome(() => manager[method](...args));
    this.entries.push({ kind: 'call', method, args, at, outcome: answer });
    return answer;
  }

  /** The virtual clock moved by `ms`, to `at`. */
  advance(ms, at) {
    this.entries.push({ kind: 'advance', ms, at });
  }

  /** A runnable node:test file replaying every entry; `snapshot` is the manager's
   * snapshot after the last one, which the replay must reproduce byte for byte. */
  exportTest(snapshot) {
    const calls = this.entries.filter((e) => e.kind === 'call').length;
    const lines = [
      `// Recorded in the mcp-session-core playground: ${calls} calls on a virtual clock.`,
      `// Replays them against the Node package on a manual clock with the same seed,`,
      `// and asserts every answer and the final snapshot: same seed and same calls give`,
      `// the same results. Run: node --test <this file>`,
      `import { test } from 'node:test';`,
      `import assert from 'node:assert/strict';`,
      `import { SessionManager } from 'mcp-session-core';`,
      ``,
      `const outcome = ${outcome.toString().replace(/^function outcome/, 'function')};`,
      ``,
      `test('playground recording replays with the same results', () => {`,
      `  let now = ${this.start};`,
      `  const sessions = new SessionManager({ clock: () => now, insecureSeed: ${this.seed} });`,
    ];
    for (const entry of this.entries) {
      if (entry.kind === 'advance') {
        lines.push(`  now += ${entry.ms}; // T+${formatOffset(entry.at - this.start)}`);
        continue;
      }
      const args = entry.args.map(js).join(', ');
      lines.push(`  assert.deepEqual(outcome(() => sessions.${entry.method}(${args})), ${js(entry.outcome)});`);
    }
    lines.push(`  assert.equal(sessions.snapshot(), ${js(snapshot)});`, `  sessions.dispose();`, `});`, ``);
    return lines.join('\n');
  }
}

/** `ms` after the start as h:mm:ss (or m:ss), for people. */
export function formatOffset(ms) {
  const total = Math.floor(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}
