import type { PreSignUpTriggerEvent } from 'aws-lambda';
import { ENV } from '../../realtime/tables';
import { createDocumentClient } from '../../core/deps';
import { claimAtSignUp } from '../../core/users';

const table = process.env[ENV.usersTable];
if (!table) throw new Error(`Missing environment variable ${ENV.usersTable}`);
const registry = { db: createDocumentClient(), table };

/** Cognito Pre sign-up: claims the chat name before the account exists (see claimAtSignUp). */
export const handler = (event: PreSignUpTriggerEvent): Promise<PreSignUpTriggerEvent> => claimAtSignUp(registry, event);
