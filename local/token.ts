/**
 * `npm run -s token -- alice`: prints an ID token for local user alice,
 * creating her in cognito-local first if needed. Needs `npm start` running.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { NAME_RULE, nameProblem } from '../amplify/core/names';
import { localIdToken } from './cognito';
import type { LocalOutputs } from './stack';

const userName = process.argv[2];
if (!userName || nameProblem(userName)) {
  console.error(`Usage: npm run -s token -- <chat name>   (${NAME_RULE})`);
  process.exit(2);
}
let outputs: LocalOutputs;
try {
  outputs = JSON.parse(readFileSync(resolve('.local/outputs.json'), 'utf8')) as LocalOutputs;
} catch {
  console.error('No local stack found (.local/outputs.json). Start it first with: npm start');
  process.exit(1);
}
const cognito = {
  endpoint: outputs.custom.local.userPoolEndpoint,
  userPoolId: String(outputs.auth.user_pool_id),
  clientId: String(outputs.auth.user_pool_client_id),
};
try {
  console.log(await localIdToken(cognito, userName));
} catch (err) {
  console.error(`Could not get a token from ${cognito.endpoint}: ${err instanceof Error ? err.message : String(err)}. Is npm start running?`);
  process.exit(1);
}
