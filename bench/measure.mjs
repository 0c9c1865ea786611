// What every benchmark child process measures with: the same index sequences for
// every implementation, and a time-budgeted loop.

/** A deterministic pseudo-random index sequence (the same for every implementation). */
export function indices(count, range, seed = 12345) {
  const out = new Uint32Array(count);
  let x = seed;
  for (let i = 0; i < count; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x % range;
  }
  return out;
}

export const elapsedNs = (start) => Number(process.hrtime.bigint() - start);

/** Runs `op` up to `count` times or until `budgetMs` is spent (some peers slow
 * down sharply with size); answers ns per operation done and how many were done. */
export function perOp(count, op, budgetMs = 3_000) {
  const start = process.hrtime.bigint();
  const budget = BigInt(budgetMs) * 1_000_000n;
  let done = 0;
  while (done < count) {
    const end = Math.min(done + 1_000, count);
    for (; done < end; done++) op(done);
    if (process.hrtime.bigint() - start > budget) break;
  }
  return { ns: elapsedNs(start) / done, done };
}
