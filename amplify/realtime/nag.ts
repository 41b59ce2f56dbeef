/**
 * cdk-nag's AwsSolutions pack, loaded only when PARLEY_NAG=1 (see backend.ts).
 * cdk-nag v3 is a CDK validation plugin: its findings, and the
 * Validations.acknowledge() reasons, land in validation-report.json.
 */
import { Validations, type Stack } from 'aws-cdk-lib';
// CommonJS whose named exports Node's ESM loader cannot detect: use the default export.
import cdkNag from 'cdk-nag';

const { AwsSolutionsChecks } = cdkNag;

export function applyNagChecks(root: Stack): void {
  const app = root.node.root;
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
}
