/**
 * The region helpers every region derives its shared names from
 * (amplify/regions/names.ts) and the outputs merge of deploy:regions
 * (amplify/regions/outputs.ts). No synth: pure functions.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { regionsFromEnv } from '../amplify/core/config';
import { REGIONS } from '../amplify/regions/list';
import { deploymentId, deployRegions, FUNCTION_NAME_MAX, homeFunctionName, otherRegionRoutes, secondaryStackName } from '../amplify/regions/names';
import { primaryOutputs, secondaryRegions, withRegionEndpoints } from '../amplify/regions/outputs';

const fixture = JSON.parse(readFileSync('test/fixtures/primary-outputs.json', 'utf8')) as Record<string, unknown>;

describe('REGIONS', () => {
  it('lists distinct region names, the primary first', () => {
    expect(new Set(REGIONS).size).toBe(REGIONS.length);
    for (const r of REGIONS) expect(r).toMatch(/^[a-z]{2}(-[a-z]+)+-\d$/);
  });
});

describe('shared names', () => {
  it('derives the same home function name from the same backend, a valid Lambda name within 64 characters', () => {
    const id = deploymentId('d1abcdefghijkl', 'main');
    expect(deploymentId('d1abcdefghijkl', 'main')).toBe(id);
    expect(homeFunctionName(id)).toMatch(/^parley-home-d1abcdefghijkl-main-[0-9a-f]{8}$/);
    const long = homeFunctionName(deploymentId('d1abcdefghijkl', `feature/${'x'.repeat(120)}`));
    expect(long.length).toBeLessThanOrEqual(FUNCTION_NAME_MAX);
    expect(long).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  it('keeps backends apart whose names fold to the same slug (feature/a, feature-a), and apps apart by id', () => {
    expect(deploymentId('app', 'feature/a')).not.toBe(deploymentId('app', 'feature-a'));
    expect(deploymentId('app1', 'main')).not.toBe(deploymentId('app2', 'main'));
    expect(() => deploymentId('', 'main')).toThrow();
  });

  it("routes each region to every other region's home, never its own, in the shape PARLEY_REGIONS parses", () => {
    const id = deploymentId('app', 'main');
    const routes = otherRegionRoutes(id, ['us-east-1', 'eu-west-1', 'ap-southeast-2'], 'eu-west-1');
    expect(Object.keys(routes)).toEqual(['us-east-1', 'ap-southeast-2']);
    expect(regionsFromEnv(JSON.stringify(routes))).toEqual(routes);
    expect(otherRegionRoutes(id, ['us-east-1'], 'us-east-1')).toEqual({});
  });

  it('names secondary stacks per backend and region', () => {
    expect(secondaryStackName('app-main-01234567', 'eu-west-1')).toBe('parley-app-main-01234567-eu-west-1');
  });
});

describe('the single-region switch', () => {
  it('spans REGIONS by default, and the primary alone for a pull-request preview', () => {
    expect(deployRegions({ pullRequest: false })).toEqual(REGIONS);
    expect(deployRegions({ pullRequest: true })).toEqual([REGIONS[0]]);
  });

  it('obeys PARLEY_SINGLE_REGION either way, and refuses anything but 1/true/0/false', () => {
    expect(deployRegions({ singleRegion: '1', pullRequest: false })).toEqual([REGIONS[0]]);
    expect(deployRegions({ singleRegion: 'true', pullRequest: false })).toEqual([REGIONS[0]]);
    expect(deployRegions({ singleRegion: '0', pullRequest: true })).toEqual(REGIONS);
    expect(deployRegions({ singleRegion: false, pullRequest: true })).toEqual(REGIONS);
    expect(() => deployRegions({ singleRegion: 'yes', pullRequest: false })).toThrow(/PARLEY_SINGLE_REGION/);
  });
});

describe('amplify_outputs.json', () => {
  it("reads the primary's pool, tables and deployment, and the secondaries after it", () => {
    const p = primaryOutputs(fixture);
    expect(p).toMatchObject({ primaryRegion: 'us-east-1', userPoolId: 'us-east-1_Fixture01', deployment: { regions: ['us-east-1', 'eu-west-1'] } });
    expect(secondaryRegions(p)).toEqual(['eu-west-1']);
  });

  it('fails loudly on a primary without custom.deployment, or deployed to another region than its tables list first', () => {
    const custom = fixture.custom as Record<string, unknown>;
    expect(() => primaryOutputs({ ...fixture, custom: { ...custom, deployment: undefined } })).toThrow(/custom.deployment/);
    expect(() => primaryOutputs({ ...fixture, custom: { ...custom, region: 'eu-west-1' } })).toThrow(/deployed to eu-west-1/);
  });

  it('writes custom.regions primary first in deployment order, and keeps websocketUrl and region the primary’s', () => {
    const out = withRegionEndpoints(fixture, { 'eu-west-1': 'wss://b.execute-api.eu-west-1.amazonaws.com/production' });
    const custom = out.custom as { regions: unknown; websocketUrl: string; region: string };
    expect(custom.regions).toEqual([
      { region: 'us-east-1', websocketUrl: 'wss://primary0001.execute-api.us-east-1.amazonaws.com/production' },
      { region: 'eu-west-1', websocketUrl: 'wss://b.execute-api.eu-west-1.amazonaws.com/production' },
    ]);
    expect(custom.websocketUrl).toBe('wss://primary0001.execute-api.us-east-1.amazonaws.com/production');
    expect(custom.region).toBe('us-east-1');
    expect(() => withRegionEndpoints(fixture, {})).toThrow(/eu-west-1/);
  });
});
