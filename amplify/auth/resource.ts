import { defineAuth } from '@aws-amplify/backend';
import { preSignUp } from './pre-sign-up/resource';

/**
 * Email sign-in; the chat name lives in `preferred_username`, required at
 * sign-up and immutable after it: the Pre sign-up trigger claims it once in
 * the name registry, and the authorizer refuses any token whose name is not
 * its user's claim. Sign-in flows are set on the app client in backend.ts,
 * because defineAuth has no option for them.
 */
export const auth = defineAuth({
  loginWith: { email: true },
  userAttributes: {
    preferredUsername: { required: true, mutable: false },
  },
  accountRecovery: 'EMAIL_ONLY',
  triggers: { preSignUp },
});
