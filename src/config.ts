/**
 * Reads the backend's outputs file (amplify_outputs.json, or the local
 * stack's file of the same shape) and configures Amplify Auth from it.
 */
import { Amplify } from 'aws-amplify';
import { cognitoUserPoolsTokenProvider } from 'aws-amplify/auth/cognito';
import * as v from 'valibot';
import type { RegionEndpoint } from '../amplify/regions/list';
import { localTokenRefresher } from './auth/localRefresh';

const WebsocketUrl = (field: string) => v.pipe(v.string(), v.regex(/^wss?:\/\//, `${field} must be a ws:// or wss:// URL`));

/** Every region's realtime endpoint, primary first; each name once, so the region picker cannot show two of one. */
const RegionsSchema = v.pipe(
  v.array(v.object({ region: v.pipe(v.string(), v.minLength(1, 'region must not be empty')), websocketUrl: WebsocketUrl('websocketUrl') })),
  v.minLength(1, 'regions must list at least one region'),
  v.check((list) => new Set(list.map((r) => r.region)).size === list.length, 'regions must not list a region twice'),
) satisfies v.GenericSchema<unknown, RegionEndpoint[]>;

const OutputsSchema = v.object({
  version: v.string(),
  auth: v.looseObject({
    aws_region: v.string(),
    user_pool_id: v.string(),
    user_pool_client_id: v.string(),
    password_policy: v.optional(
      v.object({
        min_length: v.optional(v.number()),
        require_lowercase: v.optional(v.boolean()),
        require_uppercase: v.optional(v.boolean()),
        require_numbers: v.optional(v.boolean()),
        require_symbols: v.optional(v.boolean()),
      }),
    ),
  }),
  custom: v.looseObject({
    websocketUrl: WebsocketUrl('websocketUrl'),
    region: v.optional(v.string()),
    /** Issue 10: one realtime endpoint per region. Older outputs lack it: one region, `websocketUrl`. */
    regions: v.optional(RegionsSchema),
    local: v.optional(v.object({ userPoolEndpoint: v.pipe(v.string(), v.url()), confirmationCode: v.string() })),
  }),
});

export type ParleyOutputs = v.InferOutput<typeof OutputsSchema>;

export interface PasswordPolicy {
  minLength: number;
  lowercase: boolean;
  uppercase: boolean;
  numbers: boolean;
  symbols: boolean;
}

export interface AppConfig {
  /** The primary region's endpoint, for tools that know one region only. */
  websocketUrl: string;
  /** Every region's endpoint, primary first; always at least one (the primary's). */
  regions: readonly RegionEndpoint[];
  passwordPolicy: PasswordPolicy;
  /** Present only against the local stack (cognito-local). */
  local?: { userPoolEndpoint: string; confirmationCode: string };
}

/** Validates an outputs file, with a message that says which field is wrong. */
export function readOutputs(json: unknown): ParleyOutputs {
  const result = v.safeParse(OutputsSchema, json);
  if (!result.success) {
    const issue = result.issues[0];
    const path = issue.path?.map((p) => String(p.key)).join('.') ?? '';
    throw new Error(`The outputs file is not usable: ${path ? `${path}: ` : ''}${issue.message}`);
  }
  return result.output;
}

export function appConfigFrom(outputs: ParleyOutputs): AppConfig {
  const p = outputs.auth.password_policy ?? {};
  const { websocketUrl, region, regions } = outputs.custom;
  return {
    websocketUrl,
    // Older outputs list no regions: the one endpoint is the whole deployment.
    regions: regions ?? [{ region: region ?? outputs.auth.aws_region, websocketUrl }],
    passwordPolicy: {
      minLength: p.min_length ?? 8,
      lowercase: p.require_lowercase ?? false,
      uppercase: p.require_uppercase ?? false,
      numbers: p.require_numbers ?? false,
      symbols: p.require_symbols ?? false,
    },
    local: outputs.custom.local,
  };
}

let current: AppConfig | undefined;

export function getConfig(): AppConfig {
  if (!current) throw new Error('setupAmplify() has not run');
  return current;
}

/**
 * Configures Amplify from the outputs. Local mode points the user pool at
 * cognito-local and swaps the token refresher, since cognito-local cannot
 * answer the GetTokensFromRefreshToken call Amplify makes by default.
 */
export function setupAmplify(json: unknown): AppConfig {
  const outputs = readOutputs(json);
  Amplify.configure(outputs);
  const config = appConfigFrom(outputs);
  if (config.local) {
    const resources = Amplify.getConfig();
    const cognito = resources.Auth?.Cognito;
    if (!cognito?.userPoolId || !cognito.userPoolClientId) throw new Error('The outputs file has no user pool');
    const { userPoolId, userPoolClientId, loginWith, signUpVerificationMethod, userAttributes, passwordFormat, mfa } = cognito;
    Amplify.configure({
      ...resources,
      Auth: {
        Cognito: {
          userPoolId,
          userPoolClientId,
          loginWith,
          signUpVerificationMethod,
          userAttributes,
          passwordFormat,
          mfa,
          userPoolEndpoint: config.local.userPoolEndpoint,
        },
      },
    });
    cognitoUserPoolsTokenProvider.tokenOrchestrator.setTokenRefresher(localTokenRefresher(config.local.userPoolEndpoint, cognito.userPoolClientId));
  }
  current = config;
  return config;
}
