import type { PreSignUpTriggerEvent } from 'aws-lambda';
import { usersTableFromEnv } from '../../core/config';
import { createDocumentClient } from '../../core/deps';
import { claimAtSignUp } from '../../core/users';

const registry = { db: createDocumentClient(), table: usersTableFromEnv() };

/** Cognito Pre sign-up: claims the chat name before the account exists (see claimAtSignUp). */
export const handler = (event: PreSignUpTriggerEvent): Promise<PreSignUpTriggerEvent> => claimAtSignUp(registry, event);
