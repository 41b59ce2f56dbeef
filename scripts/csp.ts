/**
 * npm run csp [-- --check]
 *
 * Writes customHttp.yml from the region list (scripts/csp-lib.ts). --check
 * only compares, and exits 1 if the committed file is out of date.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CUSTOM_HTTP_FILE, customHttpYml } from './csp-lib';
import { REPO_ROOT } from './synth-lib';

const { values } = parseArgs({ options: { check: { type: 'boolean', default: false } } });
const file = join(REPO_ROOT, CUSTOM_HTTP_FILE);
const wanted = customHttpYml();
if (values.check) {
  if (readFileSync(file, 'utf8') !== wanted) {
    console.error(`${CUSTOM_HTTP_FILE} is out of date: run npm run csp`);
    process.exit(1);
  }
  console.log(`${CUSTOM_HTTP_FILE} is up to date`);
} else {
  writeFileSync(file, wanted);
  console.log(`wrote ${CUSTOM_HTTP_FILE}`);
}
