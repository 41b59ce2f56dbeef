import { defineBackend } from '@aws-amplify/backend';
import { Stack } from 'aws-cdk-lib';
import { NameRegistry } from './auth/name-registry';
import { preSignUp } from './auth/pre-sign-up/resource';
import { auth } from './auth/resource';
import { authorizer } from './functions/authorizer/resource';
import { chat } from './functions/chat/resource';
import { connect } from './functions/connect/resource';
import { disconnect } from './functions/disconnect/resource';
import { fanout } from './functions/fanout/resource';
import { home } from './functions/home/resource';
import { acknowledgeAmplifyOwnedFindings } from './realtime/amplify-acks';
import { accessLogsOptedIn, ParleyRealtime } from './realtime/construct';
import { deploymentIdOf } from './realtime/deployment';
import { isSandbox } from './realtime/function';
import type { RegionEndpoint } from './regions/list';
import { deployRegions, SINGLE_REGION_CONTEXT, SINGLE_REGION_ENV } from './regions/names';
import type { PrimaryDeployment } from './regions/outputs';

export const backend = defineBackend({ auth, preSignUp, authorizer, connect, disconnect, chat, home, fanout });

// Amplify Hosting sets AWS_PULL_REQUEST_ID for pull-request previews, which
// deploy as 'branch' backends but are deleted when the PR closes: keeping
// their tables would leave one orphan set per PR.
const pullRequest = Boolean(process.env.AWS_PULL_REQUEST_ID);
const ephemeral = isSandbox(backend.stack) || pullRequest;

// The regions this backend spans, primary (this stack's region) first; the
// secondaries are deployed after it (npm run deploy:regions). One region:
// PARLEY_SINGLE_REGION=1, and the default for pull-request previews.
const regions = deployRegions({ singleRegion: process.env[SINGLE_REGION_ENV] ?? backend.stack.node.tryGetContext(SINGLE_REGION_CONTEXT), pullRequest });
const deploymentId = deploymentIdOf(backend.stack);

// The name registry sits with the user pool and its Pre sign-up trigger (resourceGroup 'auth').
const names = new NameRegistry(Stack.of(backend.auth.resources.userPool), 'NameRegistry', { preSignUp: backend.preSignUp, ephemeral, regions });

// App client flows: SRP for the browser and refresh tokens for long sessions,
// nothing else. The password never leaves the browser (SRP proves it), so
// USER_PASSWORD_AUTH, which sends it to Cognito, stays off here; only
// cognito-local (local mode, local/cognito.ts) allows it, since it has no SRP.
// CUSTOM_AUTH (Amplify's default) is dropped: there are no custom-auth triggers.
const { cfnUserPoolClient, cfnIdentityPool } = backend.auth.resources.cfnResources;
cfnUserPoolClient.explicitAuthFlows = ['ALLOW_USER_SRP_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'];
// The client talks to the WebSocket API with an ID token, never with AWS
// credentials, so guests need no identity-pool role.
cfnIdentityPool.allowUnauthenticatedIdentities = false;
acknowledgeAmplifyOwnedFindings(backend.stack, backend.auth.resources.userPool);

// The functions carry resourceGroupName 'realtime', so Amplify put them in one
// nested stack; the API and tables join them there (no cross-stack cycle).
const realtimeStack = Stack.of(backend.chat.resources.lambda);
const realtime = new ParleyRealtime(realtimeStack, 'ParleyRealtime', {
  functions: {
    authorizer: backend.authorizer,
    connect: backend.connect,
    disconnect: backend.disconnect,
    chat: backend.chat,
    home: backend.home,
    fanout: backend.fanout,
  },
  userPoolId: backend.auth.resources.userPool.userPoolId,
  userPoolClientId: backend.auth.resources.userPoolClient.userPoolClientId,
  usersTable: names.table,
  placement: {
    // The stack's own region (a token): a single-region backend may deploy anywhere.
    region: realtimeStack.region,
    primaryRegion: realtimeStack.region,
    otherRegions: regions.slice(1),
    deploymentId,
  },
  replicaRegions: regions,
  ephemeral,
  // Opt-in: needs the account's API Gateway CloudWatch role, set once per account and region (README, Deploy).
  accessLogs: accessLogsOptedIn(backend.stack),
});

// custom.regions starts as this region alone; deploy:regions appends the
// secondaries. `deployment` is what that script and the secondary stacks
// read: the id their names derive from, the regions, the replicated tables.
const primaryEndpoint: RegionEndpoint = { region: backend.stack.region, websocketUrl: realtime.websocketUrl };
const deployment: PrimaryDeployment = {
  id: deploymentId,
  regions: [...regions],
  ephemeral,
  tables: { chat: realtime.tables.chat.tableName, users: names.table.tableName },
};
backend.addOutput({
  custom: {
    websocketUrl: realtime.websocketUrl,
    region: backend.stack.region,
    regions: [primaryEndpoint],
    deployment,
  },
});

// cdk-nag runs only when asked (npm run synth, test/synth.test.ts), so a rule
// added by a cdk-nag upgrade can never block `ampx sandbox` or a branch deploy.
if (process.env.PARLEY_NAG === '1') {
  const { applyNagChecks } = await import('./realtime/nag');
  applyNagChecks(backend.stack);
}
