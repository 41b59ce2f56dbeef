// @aws-amplify/data-construct (pulled in by @aws-amplify/backend) ships a bundled
// @opentelemetry tree whose resources@2.0.0 pins core@2.0.0 while the bundle holds
// core@2.8.0. `npm install` tolerates that; `npm ci` refuses the lock as out of sync.
// The bundle is what gets installed either way, so the lock records the range the
// bundle satisfies. Run `npm run fix-lock` after any `npm install` that rewrites the lock.
import { readFileSync, writeFileSync } from 'node:fs';

const lock = JSON.parse(readFileSync('package-lock.json', 'utf8'));
let patched = 0;
for (const [path, entry] of Object.entries(lock.packages)) {
  if (!entry.inBundle || !path.includes('@opentelemetry/')) continue;
  for (const dep of ['@opentelemetry/core', '@opentelemetry/resources']) {
    if (entry.dependencies?.[dep] === '2.0.0') {
      entry.dependencies[dep] = '^2.0.0';
      patched++;
    }
  }
}
writeFileSync('package-lock.json', `${JSON.stringify(lock, null, 2)}\n`);
console.log(`fix-lock: ${patched} bundled @opentelemetry ranges relaxed`);
