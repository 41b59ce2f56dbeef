/**
 * Reads the backend's outputs file (amplify_outputs.json, or the local
 * stack's file of the same shape) and configures Amplify Auth from it.
 */
import { Amplify } from 'aws-amplify';
import { cognitoUserPoolsTokenProvider } from 'aws-amplify/auth/cognito';
import * as v from 'valibot';
import { localTokenRefresher } from './auth/localRefresh';

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
    websocketUrl: v.pipe(v.string(), v.regex(/^wss?:\/\//, 'websocketUrl must be a ws:// or wss:// URL')),
    region: v.optional(v.string()),
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
  websocketUrl: string;
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
  return {
    websocketUrl: outputs.custom.websocketUrl,
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
