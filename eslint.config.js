// Lint rules for ferry (run by `npm run lint` and .ci/run). Formatting is prettier's (.prettierrc.json).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const AWS_SDK = {
  group: ['@aws-sdk/*', '@smithy/*'],
  message: 'only agent/s3/ imports the AWS SDK; use the Store seam (agent/store/)',
};
const AZURE_SDK = {
  group: ['@azure/*'],
  message: 'only agent/azure/ imports the Azure SDK; use the Store seam (agent/store/)',
};
/** Only the registry (agent/stores.ts) opens a store: everything else speaks the seam, agent/store/. */
const STORE_CODE = {
  group: ['**/s3/*', '**/azure/*'],
  message: 'only agent/stores.ts reaches agent/s3/ and agent/azure/; speak the Store seam (agent/store/)',
};
/** One store's folder never reaches into another's: what they share lives in agent/store/ or agent/net/. */
const STORE_FOLDERS = (other) => ({
  group: [`../${other}/*`],
  message: `a store does not import another store's code (agent/${other}/); share it through agent/store/ or agent/net/`,
});

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.build/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-empty': ['error', { allowEmptyCatch: false }],
      // Every catch that swallows says why, in a comment (no-empty counts a comment as content).
      'max-len': ['error', { code: 120 }],
    },
  },
  {
    files: ['agent/**/*.ts'],
    rules: {
      // Small files and functions (the style guide): a longer one says why in a comment.
      'max-lines': ['error', { max: 250, skipBlankLines: true, skipComments: true }],
      'max-lines-per-function': ['error', { max: 50, skipBlankLines: true, skipComments: true }],
      // Only agent/s3/ talks to the AWS SDK, only agent/azure/ to Azure's: everything else speaks the Store seam.
      'no-restricted-imports': ['error', { patterns: [AWS_SDK, AZURE_SDK, STORE_CODE] }],
    },
  },
  {
    files: ['agent/stores.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [AWS_SDK, AZURE_SDK] }] },
  },
  {
    files: ['agent/s3/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [AZURE_SDK, STORE_FOLDERS('azure')] }] },
  },
  {
    files: ['agent/azure/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [AWS_SDK, STORE_FOLDERS('s3')] }] },
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly', Buffer: 'readonly' } },
  },
  {
    files: ['test/**/*.ts', 'scripts/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },
);
