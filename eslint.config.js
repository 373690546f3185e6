import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import reactHooks from 'eslint-plugin-react-hooks';
import globals from 'globals';

/** Folders a layer may not import from (README, Layout: arrows are the only allowed imports). */
const forbid = (folders, modules = []) => ({
  'no-restricted-imports': [
    'error',
    {
      patterns: [
        ...folders.map((f) => ({ group: [`**/${f}`, `**/${f}/**`], message: `this layer may not import from src/${f} (README, Layout)` })),
        ...(modules.length ? [{ group: modules, message: 'this layer may not use Node, Electron or native modules' }] : []),
      ],
    },
  ],
});
const NODE_AND_NATIVE = ['node:*', 'fs', 'path', 'os', 'child_process', 'electron', 'better-sqlite3', 'fastify', '@fastify/*'];

export default tseslint.config(
  { ignores: ['out/**', 'node_modules/**', 'scratch/**', 'native/**', '.cache/**', 'test-results/**', 'playwright-report/**', 'e2e-artifacts/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-control-regex': 'off',
    },
  },
  { files: ['src/renderer/**/*.{ts,tsx}'], plugins: { 'react-hooks': reactHooks }, rules: { ...reactHooks.configs.recommended.rules } },
  // Shared, dependency-free code (the config schema, statistics): every layer may use it, it uses none.
  { files: ['src/common/**'], rules: forbid(['core', 'api', 'store', 'engine', 'server', 'main', 'preload', 'cli', 'renderer'], NODE_AND_NATIVE) },
  { files: ['src/core/**'], rules: forbid(['api', 'store', 'engine', 'server', 'main', 'preload', 'cli', 'renderer'], ['electron', 'better-sqlite3', 'fastify']) },
  { files: ['src/api/**'], rules: forbid(['store', 'engine', 'server', 'main', 'preload', 'cli', 'renderer'], NODE_AND_NATIVE) },
  { files: ['src/store/**'], rules: forbid(['engine', 'server', 'main', 'preload', 'cli', 'renderer'], ['electron']) },
  { files: ['src/engine/**'], rules: forbid(['server', 'main', 'preload', 'cli', 'renderer'], ['electron']) },
  { files: ['src/server/**', 'src/cli/**'], rules: forbid(['main', 'preload', 'renderer'], ['electron']) },
  { files: ['src/main/**'], rules: forbid(['server', 'cli', 'renderer', 'preload']) },
  { files: ['src/preload/**'], rules: forbid(['core', 'store', 'engine', 'server', 'main', 'cli', 'renderer']) },
  // The page talks to src/api only (and uses src/common): never the science or the engine.
  { files: ['src/renderer/**'], rules: forbid(['core', 'store', 'engine', 'server', 'main', 'preload', 'cli'], NODE_AND_NATIVE) },
  // better-sqlite3 loads through the store's one loader, for the process that owns the store only.
  {
    files: ['src/**/*.{ts,tsx}'],
    ignores: ['src/store/sqlite.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', { paths: [{ name: 'better-sqlite3', message: 'load better-sqlite3 through src/store/sqlite.ts (openSqlite)', allowTypeImports: true }] }],
    },
  },
);
