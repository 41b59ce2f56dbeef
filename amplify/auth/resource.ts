import { defineAuth } from '@aws-amplify/backend';

/**
 * Email sign-in; the chat name lives in `preferred_username`, required at
 * sign-up and mutable so people can rename themselves. Sign-in flows (SRP,
 * USER_PASSWORD for local mode, refresh) are set on the app client in
 * backend.ts, because defineAuth has no option for them.
 */
export const auth = defineAuth({
  loginWith: { email: true },
  userAttributes: {
    preferredUsername: { required: true, mutable: true },
  },
  accountRecovery: 'EMAIL_ONLY',
});
