import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

/**
 * Which outputs file the app is built against: PARLEY_OUTPUTS (the local
 * stack sets it), else a deployed backend's amplify_outputs.json, else the
 * committed fixture, so a clean clone still builds and its tests run. Never
 * the fixture on Amplify Hosting (which sets AWS_APP_ID): there a missing
 * amplify_outputs.json means the backend phase did not deploy, and the app
 * would ship pointing at the fixture's wss://example.execute-api.… endpoint.
 */
export function outputsFile(env: Record<string, string | undefined> = process.env, cwd = process.cwd()): string {
  if (env.PARLEY_OUTPUTS) return resolve(cwd, env.PARLEY_OUTPUTS);
  const deployed = resolve(cwd, 'amplify_outputs.json');
  if (existsSync(deployed)) return deployed;
  if (env.AWS_APP_ID) {
    throw new Error(
      'amplify_outputs.json is missing: on Amplify Hosting the backend phase (ampx pipeline-deploy) writes it, ' +
        'and building without it would ship an app that connects nowhere.',
    );
  }
  return resolve(cwd, 'src/outputs.fixture.json');
}
