// @ts-check
import js from '@eslint/js';
import reactHooks from 'eslint-plugin-react-hooks';
import tseslint from 'typescript-eslint';

/**
 * The layer rules of DESIGN.md §8 (docs/architecture.md): for each folder of src/, the
 * other folders of src/ it may import. Arrows point down — main → cli/http/jobs → services →
 * repositories/inference → db/vision/synth → shared — and the agent is a process of its own
 * that reaches the server only over HTTP. Anything not listed is refused by
 * `no-restricted-imports` (static `import`, `import type` and `export … from`; dynamic imports
 * are covered by scripts/check-cycles.mjs for cycles only). Tests beside the code (`*.test.ts`)
 * are exempt: like main/, they compose.
 */
const LAYER_IMPORTS = {
  shared: [],
  config: ['shared'],
  vision: ['shared'],
  // A stored model's layout is vision's `OutputLayout` type (db/schema.ts).
  db: ['vision', 'shared'],
  synth: ['vision', 'shared'],
  inference: ['vision', 'shared'],
  // A dataset's images are decoded by inference's one image decoder (inference/decode-image.ts);
  // inference imports no repository, so this sideways arrow makes no circle.
  repositories: ['db', 'inference', 'vision', 'synth', 'shared'],
  services: ['repositories', 'inference', 'db', 'vision', 'synth', 'shared'],
  jobs: ['services', 'repositories', 'inference', 'db', 'vision', 'synth', 'shared'],
  // Route plugins parse, call one service method and serialize: no repositories, no db.
  http: ['services', 'inference', 'vision', 'shared'],
  agent: ['inference', 'vision', 'synth', 'shared'],
  // The command line parses, then calls main/ (local commands) or the HTTP API.
  cli: ['main', 'config', 'shared'],
  main: null, // the composition roots may import every folder
};
const SRC_FOLDERS = Object.keys(LAYER_IMPORTS);
/** Folders nested this deep below a layer folder get their own `../` count. */
const MAX_DEPTH = 4;

/** One `no-restricted-imports` block per layer and nesting depth (relative specifiers). */
function layerRules() {
  const blocks = [];
  for (const [layer, allowed] of Object.entries(LAYER_IMPORTS)) {
    if (allowed === null) continue;
    const forbidden = SRC_FOLDERS.filter((f) => f !== layer && !allowed.includes(f));
    const may = allowed.length > 0 ? allowed.join(', ') : 'nothing outside itself';
    for (let depth = 0; depth < MAX_DEPTH; depth++) {
      blocks.push({
        files: [`src/${layer}/${'*/'.repeat(depth)}*.ts`],
        ignores: ['**/*.test.ts'],
        rules: {
          'no-restricted-imports': [
            'error',
            {
              patterns: [
                {
                  regex: `^(?:\\.\\./){${depth + 1}}(?:${forbidden.join('|')})(?:/|$)`,
                  message: `src/${layer} may import only ${may} (DESIGN.md §8, docs/architecture.md).`,
                },
              ],
            },
          ],
        },
      });
    }
  }
  // The dashboard: of src/ only the browser-safe contracts.
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    blocks.push({
      files: [`web/src/${'*/'.repeat(depth)}*.{ts,tsx}`],
      rules: {
        'no-restricted-imports': [
          'error',
          {
            patterns: [
              {
                regex: `^(?:\\.\\./){${depth + 2}}src/(?!shared(?:/|$))`,
                message: 'web/ may import only src/shared of the server code (DESIGN.md §8).',
              },
            ],
          },
        ],
      },
    });
  }
  return blocks;
}

export default tseslint.config(
  { ignores: ['dist/', 'data/', 'node_modules/', 'coverage/', 'trainer/', 'web/dist/', 'models/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
    },
  },
  {
    // The dashboard: the classic hooks rules (the React Compiler rules of the plugin's
    // `recommended` set flag the latest-value-ref pattern the hooks in web/src/lib rely on).
    files: ['web/**/*.{ts,tsx}'],
    plugins: { 'react-hooks': reactHooks },
    rules: {
      'react-hooks/rules-of-hooks': 'error',
      'react-hooks/exhaustive-deps': 'error',
    },
  },
  ...layerRules(),
  {
    files: ['**/*.js', '**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
);
