// A small SVG line chart: cost against the number of live sessions (log-log), one
// panel per workload, one line per implementation.
const COLORS = { 'wasm-manager': '#1f77b4', 'wasm-core': '#17becf', seed: '#d62728', ttlcache: '#2ca02c', 'lru-cache': '#ff7f0e' };
const PANELS = [
  ['gate', 'gate (ns/op)'],
  ['create', 'create (ns/op)'],
  ['sweep', 'sweep, 1% expiring (ns)'],
  ['bytes0', 'memory (bytes/session)'],
];

export function plot(results, sizes, impls) {
  const w = 360;
  const h = 240;
  const pad = 44;
  const log = Math.log10;
  let svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${w * 2}" height="${h * 2 + 30}" font-family="sans-serif" font-size="11">`;
  PANELS.forEach(([key, title], p) => {
    const ox = (p % 2) * w;
    const oy = Math.floor(p / 2) * h;
    const values = impls.flatMap((i) => sizes.map((s) => results[s][i][key])).filter((v) => v > 0);
    const [lo, hi] = [log(Math.min(...values)), log(Math.max(...values)) + 1e-9];
    const x = (s) => ox + pad + ((log(s) - log(sizes[0])) / Math.max(log(sizes.at(-1)) - log(sizes[0]), 1e-9)) * (w - pad * 1.5);
    const y = (v) => oy + h - pad - ((log(Math.max(v, 1e-9)) - lo) / (hi - lo || 1)) * (h - pad * 1.6);
    svg += `<text x="${ox + w / 2}" y="${oy + 16}" text-anchor="middle" font-weight="bold">${title}</text>`;
    svg += `<line x1="${ox + pad}" y1="${oy + h - pad}" x2="${ox + w - pad / 2}" y2="${oy + h - pad}" stroke="#999"/>`;
    svg += `<line x1="${ox + pad}" y1="${oy + 24}" x2="${ox + pad}" y2="${oy + h - pad}" stroke="#999"/>`;
    for (const s of sizes) svg += `<text x="${x(s)}" y="${oy + h - pad + 14}" text-anchor="middle">${s >= 1e6 ? `${s / 1e6}M` : `${s / 1e3}k`}</text>`;
    for (const v of [10 ** Math.ceil(lo), 10 ** Math.floor(hi)]) svg += `<text x="${ox + pad - 4}" y="${y(v) + 4}" text-anchor="end">${v.toExponential(0)}</text>`;
    for (const impl of impls) {
      const points = sizes.map((s) => `${x(s).toFixed(1)},${y(results[s][impl][key]).toFixed(1)}`).join(' ');
      svg += `<polyline fill="none" stroke="${COLORS[impl]}" stroke-width="2" points="${points}"/>`;
    }
  });
  impls.forEach((impl, i) => {
    svg += `<rect x="${20 + i * 130}" y="${h * 2 + 10}" width="12" height="12" fill="${COLORS[impl]}"/><text x="${36 + i * 130}" y="${h * 2 + 20}">${impl}</text>`;
  });
  return `${svg}</svg>\n`;
}
