// The web build (mcp-session-core/web): the TypeScript layer and the web glue of the
// same WebAssembly module, bundled by esbuild into dist/web/index.mjs, one ES module
// with no Node built-in, beside the optimized module it loads by default. Run by
// scripts/build.sh after both glues and the Node build's types exist.
import { build } from 'esbuild';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const webGlue = `${root}bindings/generated/web/mcp_session_core.js`;
const optimized = `${root}bindings/generated/mcp_session_core_bg.wasm`;

/** Imports and exports of a module, as text: what a glue binds to. */
function surface(path) {
  const module = new WebAssembly.Module(readFileSync(path));
  const names = (list) => list.map(({ module: from = '', name, kind }) => `${from}:${name}:${kind}`).sort();
  return JSON.stringify([names(WebAssembly.Module.imports(module)), names(WebAssembly.Module.exports(module))]);
}

// The web glue drives the module the Node glue drives (wasm-bindgen differs only in
// the JS it writes), so the package ships the bytes wasm-opt made once: checked
// here, as a glue bound to a different surface would fail only when loaded.
if (surface(optimized) !== surface(`${root}bindings/generated/web/mcp_session_core_bg.wasm`)) {
  throw new Error('the web glue expects a module other than the optimized one: build both glues from the same .wasm');
}

/** The TypeScript layer imports the Node glue; here it gets the web glue instead,
 * so that one source serves both builds. */
const webGluePlugin = {
  name: 'web-glue',
  setup(builder) {
    builder.onResolve({ filter: /\/generated\/mcp_session_core$/ }, () => ({ path: webGlue }));
  },
};

await build({
  entryPoints: [`${root}bindings/src/web.ts`],
  outfile: `${root}dist/web/index.mjs`,
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  minify: true,
  keepNames: true,
  legalComments: 'none',
  logLevel: 'warning',
  plugins: [webGluePlugin],
});
copyFileSync(optimized, `${root}dist/web/mcp_session_core_bg.wasm`);
writeFileSync(`${root}dist/web/index.d.ts`, "export * from '../src/web';\n");

// Browsers and Workers have neither: a Node built-in that crept into the bundle
// would fail only there.
const bundle = readFileSync(`${root}dist/web/index.mjs`, 'utf8');
const nodeOnly = bundle.match(/\bnode:[a-z_/]+|\brequire\s*\(/g);
if (nodeOnly !== null) {
  throw new Error(`dist/web/index.mjs uses Node: ${[...new Set(nodeOnly)].join(', ')}`);
}
console.log(`[build] dist/web/index.mjs: ${Buffer.byteLength(bundle)} bytes`);
