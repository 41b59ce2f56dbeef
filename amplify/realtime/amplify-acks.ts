/**
 * cdk-nag (AwsSolutions) acknowledgments for resources that Amplify itself
 * creates, with the reason each one is accepted. Plain CDK metadata
 * (Validations): nothing changes in the deployed templates.
 */
import { type CfnElement, Stack, Validations } from 'aws-cdk-lib';
import type { IUserPool } from 'aws-cdk-lib/aws-cognito';

export function acknowledgeAmplifyOwnedFindings(root: Stack, userPool: IUserPool): void {
  Validations.of(userPool).acknowledge(
    {
      id: 'AwsSolutions::AwsSolutions-COG2',
      reason:
        'MFA is not required for a public chat: accounts hold no payment data, only an email address, and a ' +
        'mandatory second factor would block the sign-up flow.',
    },
    {
      id: 'AwsSolutions::AwsSolutions-COG8',
      reason:
        'The Plus feature plan (threat protection) is billed per MAU; Essentials with the strong default password ' +
        'policy is the chosen cost/risk trade-off. Revisit if account abuse appears.',
    },
  );

  // Branch deployments only: Amplify's branch linker, a custom resource that
  // tags the Amplify Hosting branch with this backend. Its code and IAM are
  // Amplify's, not ours.
  const linker = root.node.tryFindChild('AmplifyBranchLinker');
  if (!linker) return;
  const appId = String(root.node.tryGetContext('amplify-backend-namespace'));
  const branch = String(root.node.tryGetContext('amplify-backend-name'));
  const linkerLambda = linker.node.tryFindChild('CustomResourceLambda')?.node.defaultChild as CfnElement | undefined;
  const owned = 'Created and maintained by Amplify (branch linker custom resource); not configurable from the backend.';
  Validations.of(linker).acknowledge(
    {
      id: 'AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      reason: `${owned} The managed policy only allows writing the function's own logs.`,
    },
    { id: 'AwsSolutions::AwsSolutions-L1', reason: `${owned} The runtime is chosen by the Amplify release.` },
    {
      id: `AwsSolutions::AwsSolutions-IAM5[Resource::arn:aws:amplify:*:*:apps/${appId}/branches/${branch}]`,
      reason: `${owned} Scoped to this app and branch; only region and account are wildcards.`,
    },
  );
  if (linkerLambda) {
    Validations.of(linker).acknowledge({
      id: `AwsSolutions::AwsSolutions-IAM5[Resource::<${Stack.of(linkerLambda).getLogicalId(linkerLambda)}.Arn>:*]`,
      reason: `${owned} The CDK provider framework may invoke any version of that one function.`,
    });
  }
}
