#!/usr/bin/env node
// The `nimbus` command. Nimbus runs TypeScript directly, which needs Node 24: when started by an
// older node (a system node outside `npx`), re-run with the project's pinned node@24 if it is there.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  const pinned = fileURLToPath(new URL('../node_modules/node/bin/node', import.meta.url));
  if (!existsSync(pinned)) {
    process.stderr.write(`nimbus needs Node.js 24 or newer (this is ${process.version}); run \`npm install\` in the Nimbus folder and use \`npx nimbus\`.\n`);
    process.exit(1);
  }
  const r = spawnSync(pinned, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
await import('../src/cli/main.ts');
