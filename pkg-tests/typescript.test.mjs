// A TypeScript consumer compiles with tsc --strict against the published types.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

test('a strict TypeScript consumer type-checks against the package', () => {
  const tsc = process.env.TSC;
  assert.ok(tsc, 'TSC names the TypeScript compiler (scripts/test.sh sets it)');
  const project = fileURLToPath(new URL('./consumer/tsconfig.json', import.meta.url));
  const result = spawnSync(tsc, ['-p', project], { encoding: 'utf8' });
  assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
});
