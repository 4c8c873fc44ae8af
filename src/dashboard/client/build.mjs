// Bundles the dashboard's page (this folder, with uPlot and dagre) into dist/dashboard/assets/:
// run by `npm run build`, so the package ships the page built and its users install no browser
// toolchain.
import { copyFile, mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const out = here('../../../dist/dashboard/assets/');
await mkdir(out, { recursive: true });
await build({
  entryPoints: [here('./main.ts')],
  bundle: true,
  minify: true,
  format: 'iife',
  target: 'es2022',
  outfile: `${out}app.js`,
  logLevel: 'warning',
  legalComments: 'none',
});
await copyFile(here('./index.html'), `${out}index.html`);
