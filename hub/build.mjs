// Bundle the hub into ../engine/hub_static (served by engine/hub.py at /hub/).
//
//   node build.mjs           build: esbuild bundles src/main.js (charts split into lazily loaded chunks),
//                            every .js/.css is stored gzip-compressed (<name>.gz) to keep the package small
//   node build.mjs --check   exit 1 when the bundle was built from other sources than the ones here
//
// The bundle records a digest of its inputs (package.json, package-lock.json, build.mjs, src/**) in
// manifest.json; tests/browser/test_hub_http.py recomputes it, so a source change without a rebuild fails.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, copyFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync, constants } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '..', 'engine', 'hub_static');

function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

/** sha256 over each input's relative path and bytes, in sorted path order. */
export function inputDigest() {
  const inputs = ['package.json', 'package-lock.json', 'build.mjs', ...files(join(here, 'src')).map((p) => relative(here, p))]
    .map((p) => p.split('\\').join('/'))
    .sort();
  const hash = createHash('sha256');
  for (const rel of inputs) {
    hash.update(`${rel}\0`);
    hash.update(readFileSync(join(here, rel)));
    hash.update('\0');
  }
  return hash.digest('hex');
}

function check() {
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
  } catch {
    return false;
  }
  return manifest.inputs === inputDigest();
}

async function build() {
  const esbuild = await import('esbuild');
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  await esbuild.build({
    absWorkingDir: here,
    entryPoints: ['src/main.js'],
    bundle: true,
    splitting: true,
    format: 'esm',
    minify: true,
    target: ['es2020'],
    outdir: out,
    entryNames: '[name]',
    chunkNames: 'chunks/[name]-[hash]',
    define: { 'process.env.NODE_ENV': '"production"', global: 'globalThis' },
    legalComments: 'none',
    logLevel: 'warning',
  });
  copyFileSync(join(here, 'src', 'index.html'), join(out, 'index.html'));
  copyFileSync(join(here, 'src', 'hub.css'), join(out, 'hub.css'));
  copyFileSync(join(here, 'src', 'favicon.svg'), join(out, 'favicon.svg'));
  const stored = {};
  for (const path of files(out).sort()) {
    const rel = relative(out, path).split('\\').join('/');
    const data = readFileSync(path);
    if (/\.(js|css)$/.test(rel)) {
      writeFileSync(`${path}.gz`, gzipSync(data, { level: constants.Z_BEST_COMPRESSION }));
      rmSync(path);
    }
    stored[rel] = data.length;
  }
  writeFileSync(join(out, 'manifest.json'), `${JSON.stringify({ inputs: inputDigest(), files: stored }, null, 1)}\n`);
  const total = files(out).reduce((n, p) => n + statSync(p).size, 0);
  console.log(`hub bundle: ${Object.keys(stored).length} files, ${(total / 1e6).toFixed(2)} MB stored in ${relative(process.cwd(), out)}`);
}

if (process.argv.includes('--check')) {
  process.exit(check() ? 0 : 1);
} else {
  await build();
}
