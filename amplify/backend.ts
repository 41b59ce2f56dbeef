import { defineBackend } from '@aws-amplify/backend';
import { Stack } from 'aws-cdk-lib';
import { auth } from './auth/resource';
import { authorizer } from './functions/authorizer/resource';
import { chat } from './functions/chat/resource';
import { connect } from './functions/connect/resource';
import { disconnect } from './functions/disconnect/resource';
import { acknowledgeAmplifyOwnedFindings } from './realtime/amplify-acks';
import { ParleyRealtime } from './realtime/construct';
import { isSandbox } from './realtime/function';

export const backend = defineBackend({ auth, authorizer, connect, disconnect, chat });

// App client flows: SRP for the browser, USER_PASSWORD_AUTH because
// cognito-local (local mode) has no SRP, refresh tokens for long sessions.
// CUSTOM_AUTH (Amplify's default) is dropped: there are no custom-auth triggers.
const { cfnUserPoolClient, cfnIdentityPool } = backend.auth.resources.cfnResources;
cfnUserPoolClient.explicitAuthFlows = ['ALLOW_USER_SRP_AUTH', 'ALLOW_USER_PASSWORD_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'];
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
  },
  userPoolId: backend.auth.resources.userPool.userPoolId,
  userPoolClientId: backend.auth.resources.userPoolClient.userPoolClientId,
  // Amplify Hosting sets AWS_PULL_REQUEST_ID for pull-request previews, which
  // deploy as 'branch' backends but are deleted when the PR closes: keeping
  // their tables would leave one orphan pair per PR.
  ephemeral: isSandbox(backend.stack) || Boolean(process.env.AWS_PULL_REQUEST_ID),
});

backend.addOutput({
  custom: {
    websocketUrl: realtime.websocketUrl,
    region: backend.stack.region,
  },
});

// cdk-nag runs only when asked (npm run synth, test/synth.test.ts), so a rule
// added by a cdk-nag upgrade can never block `ampx sandbox` or a branch deploy.
if (process.env.PARLEY_NAG === '1') {
  const { applyNagChecks } = await import('./realtime/nag');
  applyNagChecks(backend.stack);
}
