/**
 * cdk-nag's AwsSolutions pack, loaded only when PARLEY_NAG=1 (see backend.ts).
 * cdk-nag v3 is a CDK validation plugin: its findings, and the
 * Validations.acknowledge() reasons, land in validation-report.json.
 */
import { Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
// CommonJS whose named exports Node's ESM loader cannot detect: use the default export.
import cdkNag from 'cdk-nag';

const { AwsSolutionsChecks } = cdkNag;

/** Over the whole app that `scope` belongs to (the primary's or the secondary regions'). */
export function applyNagChecks(scope: IConstruct): void {
  const app = scope.node.root;
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
}
