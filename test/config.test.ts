/** Configuration that fails loudly: a bad value stops a cold start or a build, naming what is wrong. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { chatConfigFromEnv, ENV } from '../amplify/core/config';
import { outputsFile } from '../scripts/outputs-file';

const tables = { [ENV.connectionsTable]: 'c', [ENV.chatTable]: 'm', [ENV.usersTable]: 'u' };

describe('chatConfigFromEnv', () => {
  it('takes the fan-out concurrency when it is a whole number in range, and 64 when unset', () => {
    expect(chatConfigFromEnv({ ...tables }).fanoutConcurrency).toBe(64);
    expect(chatConfigFromEnv({ ...tables, [ENV.fanoutConcurrency]: '16' }).fanoutConcurrency).toBe(16);
  });

  it.each(['0', '-4', '2.5', 'sixty-four', '1e9', ' '])('refuses PARLEY_FANOUT_CONCURRENCY=%j instead of quietly using 64', (raw) => {
    expect(() => chatConfigFromEnv({ ...tables, [ENV.fanoutConcurrency]: raw })).toThrow(/PARLEY_FANOUT_CONCURRENCY must be a whole number/);
  });

  it('reads the other regions and the primary, and is a single region when they are unset', () => {
    const single = chatConfigFromEnv({ ...tables, AWS_REGION: 'eu-west-1' });
    expect(single).toMatchObject({ homeRegion: 'eu-west-1', primaryRegion: 'eu-west-1', regions: {} });
    const multi = chatConfigFromEnv({
      ...tables,
      AWS_REGION: 'eu-west-1',
      [ENV.primaryRegion]: 'us-east-1',
      [ENV.regions]: JSON.stringify({ 'us-east-1': { homeFunction: 'arn:aws:lambda:us-east-1:1:function:parley-main-home' } }),
    });
    expect(multi.primaryRegion).toBe('us-east-1');
    expect(multi.regions).toEqual({ 'us-east-1': { homeFunction: 'arn:aws:lambda:us-east-1:1:function:parley-main-home' } });
  });

  it.each([
    ['not json', /is not JSON/],
    ['["us-east-1"]', /must be an object/],
    ['{"us-east-1":{}}', /no homeFunction for us-east-1/],
    ['{"local-b":{"homeFunction":"home","endpoint":7}}', /bad endpoint for local-b/],
  ])('refuses PARLEY_REGIONS=%s at cold start rather than strand a room', (raw, message) => {
    expect(() => chatConfigFromEnv({ ...tables, [ENV.regions]: raw })).toThrow(message);
  });

  it('names a missing table variable', () => {
    expect(() => chatConfigFromEnv({ [ENV.connectionsTable]: 'c', [ENV.usersTable]: 'u' })).toThrow(ENV.chatTable);
  });
});

describe("the app build's outputs file", () => {
  const dir = () => mkdtempSync(join(tmpdir(), 'parley-outputs-'));

  it('uses the committed fixture in a clean clone, so it still builds', () => {
    const cwd = dir();
    expect(outputsFile({}, cwd)).toBe(join(cwd, 'src/outputs.fixture.json'));
  });

  it("uses a deployed backend's amplify_outputs.json when there is one", () => {
    const cwd = dir();
    writeFileSync(join(cwd, 'amplify_outputs.json'), '{}');
    expect(outputsFile({ AWS_APP_ID: 'd123' }, cwd)).toBe(join(cwd, 'amplify_outputs.json'));
  });

  it('fails the Amplify Hosting build when the backend phase wrote no outputs', () => {
    expect(() => outputsFile({ AWS_APP_ID: 'd123', AWS_BRANCH: 'main' }, dir())).toThrow(/amplify_outputs.json is missing/);
  });
});
