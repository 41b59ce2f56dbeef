/**
 * The regions Parley runs its realtime path in: the one list that drives the
 * CDK (replicas, secondary stacks, cross-region grants), the app's outputs,
 * the CSP (customHttp.yml) and local mode. The first is the primary: Cognito,
 * the Amplify app, the lobby, and the claim of every room id and chat name.
 * No CDK imports here, so the app, scripts and local mode can import it.
 */
export const REGIONS = ['us-east-1', 'eu-west-1'] as const;

/** The region names of local two-region mode (`npm start -- --regions 2`), primary first. */
export const LOCAL_REGIONS = ['local-a', 'local-b'] as const;

/**
 * One region's realtime endpoint. The app's outputs list every region's
 * (`custom.regions`, primary first); `custom.websocketUrl` stays the
 * primary's, so single-region tools and the tutorial's wscat flow still work.
 */
export interface RegionEndpoint {
  region: string;
  websocketUrl: string;
}
