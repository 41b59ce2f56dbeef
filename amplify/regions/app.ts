/**
 * The secondary regions' CDK app: one stack per region of the primary's
 * custom.deployment.regions after the first, each in its region (env), built
 * from the primary's amplify_outputs.json. `npm run deploy:regions` runs it
 * through the CDK CLI; tests synthesize it offline with a fixture.
 *
 * Context (or env): parley:outputs (PARLEY_OUTPUTS), the outputs file,
 * amplify_outputs.json by default.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { App } from 'aws-cdk-lib';
import { DEPLOYMENT_ID_CONTEXT } from '../realtime/deployment';
import { secondaryStackName } from './names';
import { primaryOutputs, secondaryRegions } from './outputs';
import { SecondaryRegionStack } from './stack';

export const OUTPUTS_CONTEXT = 'parley:outputs';

const app = new App();
const file: unknown = app.node.tryGetContext(OUTPUTS_CONTEXT) ?? process.env.PARLEY_OUTPUTS ?? 'amplify_outputs.json';
if (typeof file !== 'string') throw new Error(`${OUTPUTS_CONTEXT} must be a file path`);
const primary = primaryOutputs(JSON.parse(readFileSync(resolve(file), 'utf8')) as unknown);
// The home function's name derives from it (realtime/deployment.ts), as in the primary.
app.node.setContext(DEPLOYMENT_ID_CONTEXT, primary.deployment.id);

for (const region of secondaryRegions(primary)) {
  new SecondaryRegionStack(app, secondaryStackName(primary.deployment.id, region), {
    region,
    primary,
    // The CLI sets the account; the same one as the primary (cross-region invokes name it).
    ...(process.env.CDK_DEFAULT_ACCOUNT ? { env: { account: process.env.CDK_DEFAULT_ACCOUNT } } : {}),
    description: `Parley ${primary.deployment.id}: the realtime path in ${region} (primary ${primary.primaryRegion})`,
  });
}

// As in the primary: cdk-nag only when asked, so a new rule never blocks a deploy.
if (process.env.PARLEY_NAG === '1') {
  const { applyNagChecks } = await import('../realtime/nag');
  applyNagChecks(app);
}
app.synth();
