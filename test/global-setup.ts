/**
 * One DynamoDB Local and one cognito-local for the whole run; each test file
 * makes its own tables, so files stay independent while sharing the slow JVM.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startCognito, type LocalCognito } from '../local/cognito';
import { startDynamo } from '../local/dynamodb';

declare module 'vitest' {
  export interface ProvidedContext {
    dynamoEndpoint: string;
    cognito: Omit<LocalCognito, 'stop'>;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dataDir = mkdtempSync(join(tmpdir(), 'parley-test-'));
  const dynamo = await startDynamo();
  const cognito = await startCognito({ dataDir, dynamoEndpoint: dynamo.endpoint });
  project.provide('dynamoEndpoint', dynamo.endpoint);
  const { stop: _, ...shared } = cognito;
  project.provide('cognito', shared);
  return async () => {
    await Promise.all([dynamo.stop(), cognito.stop()]);
    rmSync(dataDir, { recursive: true, force: true });
  };
}
