// ESLint: typescript-eslint's recommended rules, the promise rules that need types
// (a promise nobody awaits or handles is a bug here more often than not), and the
// React hooks rules for the app. `npm run lint` runs it; `npm test` runs that first.
import js from '@eslint/js';
import reactHooks from 'eslint-plugin-react-hooks';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.amplify/', 'cdk.out/', 'bench/results/', '**/*.js', '**/*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { attributes: false } }],
      // tsc's noUnusedLocals/Parameters already decide these, with `_` for deliberate gaps.
      '@typescript-eslint/no-unused-vars': 'off',
    },
  },
  { files: ['src/**/*.{ts,tsx}'], ...reactHooks.configs.flat.recommended },
);
