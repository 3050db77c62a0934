/**
 * The rules of ARCHITECTURE.md, enforced on the sources: what each room of src/ may import,
 * what the browser-safe entries may reach, and that tfjs' private parts are touched only in
 * src/tfjs_internals.ts. Every file of src/ is parsed with the TypeScript compiler (comments
 * and documentation never count); each rule lists its offences as `file:line`.
 *
 * The second block runs every rule on a small made-up tree that breaks it, so a rule that
 * silently matches nothing fails too. `S3N_ARCHITECTURE_ROOT=DIR` checks the `src/` of another
 * tree (e.g. a copy with a bad import) instead of this one.
 */
import * as fs from 'node:fs';
import { builtinModules } from 'node:module';
import * as path from 'node:path';
import * as ts from 'typescript';

// ------------------------------------------------------------------------------- the sources

/** Parsed sources by path relative to the tree's root, `src/ops/grid_sample.ts`. */
type Project = Map<string, ts.SourceFile>;

function projectFrom(texts: Record<string, string>): Project {
  const project: Project = new Map();
  for (const [file, text] of Object.entries(texts)) project.set(file, ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true));
  return project;
}

function loadProject(root: string): Project {
  const texts: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
      const rel = `${dir}/${entry.name}`;
      if (entry.isDirectory()) walk(rel);
      else if (entry.name.endsWith('.ts')) texts[rel] = fs.readFileSync(path.join(root, rel), 'utf8');
    }
  };
  walk('src');
  return projectFrom(texts);
}

const lineOf = (sf: ts.SourceFile, node: ts.Node): number => sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
const where = (sf: ts.SourceFile, node: ts.Node): string => `${sf.fileName}:${lineOf(sf, node)}`;

function visit(sf: ts.SourceFile, f: (node: ts.Node) => void): void {
  const go = (node: ts.Node) => {
    f(node);
    ts.forEachChild(node, go);
  };
  go(sf);
}

// ------------------------------------------------------------------------------- the imports

interface Edge {
  /** The importing file and line, `src/ops/grid_sample.ts:18`. */
  at: string;
  file: string;
  /** The specifier as written. */
  spec: string;
  /** A source path (`src/ops/validation.ts`), or a package (`sharp`, `node:fs`, `@tensorflow/tfjs-core`). */
  target: string;
  internal: boolean;
  /** Erased by the compiler: `import type`, `export type`, every binding `type`, `typeof import()`. */
  typeOnly: boolean;
}

const BUILTINS = new Set(builtinModules);

/** The package of a bare specifier (`@tensorflow/tfjs-layers/dist/x` → `@tensorflow/tfjs-layers`); node builtins as `node:NAME`. */
function packageOf(spec: string): string {
  if (spec.startsWith('node:')) return `node:${spec.slice(5).split('/')[0]}`;
  const parts = spec.split('/');
  const name = spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
  return BUILTINS.has(name) ? `node:${name}` : name;
}

function resolve(project: Project, file: string, spec: string): { target: string; internal: boolean } {
  if (!spec.startsWith('.')) return { target: packageOf(spec), internal: false };
  const base = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec)).replace(/\.js$/, '');
  const found = [base, `${base}.ts`, `${base}/index.ts`].find((p) => project.has(p));
  return { target: found ?? `${base} (unresolved)`, internal: true };
}

function isTypeOnlyImport(node: ts.ImportDeclaration): boolean {
  const clause = node.importClause;
  if (clause == null) return false; // import 'x': a side effect
  if (clause.isTypeOnly) return true;
  if (clause.name != null) return false;
  const bindings = clause.namedBindings;
  return bindings != null && ts.isNamedImports(bindings) && bindings.elements.length > 0 && bindings.elements.every((e) => e.isTypeOnly);
}

function isTypeOnlyExport(node: ts.ExportDeclaration): boolean {
  if (node.isTypeOnly) return true;
  const clause = node.exportClause;
  return clause != null && ts.isNamedExports(clause) && clause.elements.length > 0 && clause.elements.every((e) => e.isTypeOnly);
}

/** Every import of every file: static, re-exports, `import()`, `require()`, `import x = require()`, `typeof import()`. */
function edgesOf(project: Project): Edge[] {
  const edges: Edge[] = [];
  for (const [file, sf] of project) {
    const add = (node: ts.Node, literal: ts.Expression | undefined, typeOnly: boolean) => {
      if (literal == null || !ts.isStringLiteralLike(literal)) return; // a computed specifier cannot be followed
      edges.push({ at: where(sf, node), file, spec: literal.text, ...resolve(project, file, literal.text), typeOnly });
    };
    visit(sf, (node) => {
      if (ts.isImportDeclaration(node)) add(node, node.moduleSpecifier, isTypeOnlyImport(node));
      else if (ts.isExportDeclaration(node) && node.moduleSpecifier) add(node, node.moduleSpecifier, isTypeOnlyExport(node));
      else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
        add(node, node.moduleReference.expression, node.isTypeOnly);
      } else if (ts.isCallExpression(node) && (node.expression.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(node.expression) && node.expression.text === 'require'))) {
        add(node, node.arguments[0], false);
      } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) add(node, node.argument.literal, true);
    });
  }
  return edges;
}

// ------------------------------------------------------------------------------- the rooms

/** Files with a row of their own in the table: they may import what the rest of their folder may not. */
const FILE_ROOMS = ['src/kernels/wasm/threads.ts'];

/**
 * The room of a source path: its folder under src/ (`ops`), the file at the top
 * (`defaults.ts`), or a file of {@link FILE_ROOMS} (`kernels/wasm/threads.ts`).
 */
function roomOf(file: string): string {
  if (FILE_ROOMS.includes(file)) return file.slice('src/'.length);
  return file.split('/')[1];
}

/**
 * What each room may import (ARCHITECTURE.md, the table of rooms and the entry points): a package, `node:` (every node
 * builtin), a source file, or a source folder (ending in `/`). `typesFrom`: allowed for
 * type-only imports, which the compiler erases.
 */
const TFJS = ['@tensorflow/tfjs-core', '@tensorflow/tfjs-layers'];
const ROOMS: Record<string, { imports: string[]; typesFrom?: string[] }> = {
  'defaults.ts': { imports: [] },
  'tfjs_internals.ts': { imports: [...TFJS, 'src/ops/validation.ts'] },
  ops: { imports: ['@tensorflow/tfjs-core', 'src/ops/', 'src/defaults.ts', 'src/kernels/fused/'] },
  kernels: { imports: ['@tensorflow/tfjs-core', 'src/kernels/', 'src/tfjs_internals.ts'], typesFrom: ['@tensorflow/tfjs-backend-wasm'] },
  'kernels/wasm/threads.ts': { imports: ['@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-wasm', 'node:', 'src/ops/validation.ts'] },
  layers: { imports: [...TFJS, 'src/ops/', 'src/defaults.ts', 'src/layers/'] },
  model: { imports: [...TFJS, 'src/ops/', 'src/layers/', 'src/defaults.ts', 'src/tfjs_internals.ts', 'src/kernels/fused/', 'src/model/'] },
  backbones: { imports: [...TFJS, 'src/ops/validation.ts', 'src/backbones/'], typesFrom: ['src/io/'] },
  io: { imports: [...TFJS, 'node:', 'fflate', 'h5wasm', 'src/ops/validation.ts', 'src/backbones/', 'src/io/'], typesFrom: ['src/model/'] },
  data: { imports: ['@tensorflow/tfjs-core', 'node:', 'sharp', 'src/data/'] },
  cli: {
    imports: [
      ...TFJS,
      '@tensorflow/tfjs-backend-cpu',
      '@tensorflow/tfjs-backend-wasm',
      '@tensorflow/tfjs-backend-webgpu',
      'node:',
      'sharp',
      'cli-progress',
      'src/ops/',
      'src/layers/',
      'src/model/',
      'src/backbones/',
      'src/io/',
      'src/data/',
      'src/defaults.ts',
      'src/tfjs_internals.ts',
      'src/cli/',
    ],
  },
  'index.ts': { imports: ['src/ops/', 'src/layers/', 'src/model/', 'src/backbones/', 'src/defaults.ts'], typesFrom: ['src/io/'] },
  'node.ts': { imports: ['src/data/', 'src/io/'] },
  'wasm-training.ts': { imports: ['@tensorflow/tfjs-backend-wasm', 'src/kernels/wasm/', 'src/kernels/registration.ts'] },
  'cpu-training.ts': { imports: ['@tensorflow/tfjs-backend-cpu', 'src/kernels/cpu/', 'src/kernels/registration.ts'] },
  'wasm-threads.ts': { imports: ['src/kernels/wasm/threads.ts'] },
};

/** The package entry points and the CLI's: nothing imports them. */
const ENTRIES = ['src/index.ts', 'src/node.ts', 'src/wasm-training.ts', 'src/cpu-training.ts', 'src/wasm-threads.ts', 'src/cli/main.ts'];

/** Entries that must load in a browser; the node-only parts live behind `s3n-layers/node` and the CLI. */
const BROWSER_ENTRIES: Record<string, string[]> = {
  'src/index.ts': TFJS,
  'src/wasm-training.ts': ['@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-wasm'],
  'src/cpu-training.ts': ['@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-cpu'],
};
/** Source folders the browser entries must not reach: the node-only rooms. */
const NOT_IN_BROWSER = ['src/cli/', 'src/data/', 'src/io/'];

/** A specifier into a package's build or sources rather than its exports: `pkg/dist/…`, `@scope/pkg/src/…`. */
const DEEP_IMPORT = /^(@[^/]+\/)?[^/@.][^/]*\/(dist|src|build|lib)\//;

function matches(target: string, pattern: string): boolean {
  if (pattern === 'node:') return target.startsWith('node:');
  return pattern.endsWith('/') ? target.startsWith(pattern) : target === pattern;
}

const describeEdge = (e: Edge) => `${e.at} ${e.typeOnly ? 'imports types from' : 'imports'} ${e.target}${e.spec !== e.target ? ` ('${e.spec}')` : ''}`;

// ------------------------------------------------------------------------------- the rules

interface Rule {
  name: string;
  /** The offences, one line each; empty when the sources follow the rule. */
  check(project: Project): string[];
}

function roomRule(room: string): Rule {
  const { imports, typesFrom = [] } = ROOMS[room];
  const what = room.endsWith('.ts') ? `src/${room}` : `src/${room}/`;
  return {
    name: `${what} imports only ${imports.length ? imports.join(', ') : 'nothing'}${typesFrom.length ? ` (types also from ${typesFrom.join(', ')})` : ''}`,
    check: (project) =>
      edgesOf(project)
        .filter((e) => roomOf(e.file) === room)
        .filter((e) => !imports.some((p) => matches(e.target, p)) && !(e.typeOnly && typesFrom.some((p) => matches(e.target, p))))
        .map(describeEdge),
  };
}

/** Value imports only (type-only ones are erased), between source files and to packages. */
function valueGraph(project: Project): Map<string, Edge[]> {
  const graph = new Map<string, Edge[]>();
  for (const e of edgesOf(project)) if (!e.typeOnly) graph.set(e.file, [...(graph.get(e.file) ?? []), e]);
  return graph;
}

/** Breadth-first from `entry`: the chain of files that leads to each reached file (not going on from files `stop` accepts). */
function reach(graph: Map<string, Edge[]>, entry: string, stop: (file: string) => boolean = () => false): Map<string, string[]> {
  const chains = new Map<string, string[]>([[entry, [entry]]]);
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.shift() as string;
    if (stop(file)) continue;
    for (const e of graph.get(file) ?? []) {
      if (!e.internal || chains.has(e.target)) continue;
      chains.set(e.target, [...(chains.get(file) as string[]), e.target]);
      queue.push(e.target);
    }
  }
  return chains;
}

/** A cycle of files, written from its first file in sort order back to it: `a → b → a`. */
function cycleName(files: string[]): string {
  const start = files.indexOf([...files].sort()[0]);
  const rotated = [...files.slice(start), ...files.slice(0, start)];
  return [...rotated, rotated[0]].join(' → ');
}

/**
 * Cycles that exist and are harmless, each used only inside functions (not while the modules
 * load). webgpu.ts takes `UsageError` from backend.ts, which calls webgpu.ts' setup.
 */
const KNOWN_CYCLES = ['src/cli/backend.ts → src/cli/webgpu.ts → src/cli/backend.ts'];

const RULES: Rule[] = [
  {
    name: 'every file of src/ is in a room of ARCHITECTURE.md',
    check: (project) => [...project.keys()].filter((f) => !(roomOf(f) in ROOMS)).map((f) => `${f}: room '${roomOf(f)}' is not in the table`),
  },
  ...Object.keys(ROOMS).map(roomRule),
  {
    name: 'only src/cli imports src/cli',
    check: (project) => edgesOf(project).filter((e) => e.target.startsWith('src/cli/') && roomOf(e.file) !== 'cli').map(describeEdge),
  },
  {
    name: 'nothing in src imports an entry point (index.ts, node.ts, wasm-training.ts, cpu-training.ts, wasm-threads.ts, cli/main.ts)',
    check: (project) => edgesOf(project).filter((e) => ENTRIES.includes(e.target)).map(describeEdge),
  },
  {
    name: "the browser entries' value imports never reach a node: module, sharp, h5wasm, fflate, cli-progress, src/cli, src/data, src/io or another package",
    check: (project) => {
      const graph = valueGraph(project);
      const offences: string[] = [];
      const nodeOnly = (file: string) => NOT_IN_BROWSER.some((p) => file.startsWith(p));
      for (const [entry, packages] of Object.entries(BROWSER_ENTRIES)) {
        for (const [file, chain] of reach(graph, entry, nodeOnly)) {
          const via = chain.length > 1 ? ` (${chain.join(' → ')})` : '';
          if (nodeOnly(file)) {
            offences.push(`${file} is reached from ${entry}${via}`);
            continue;
          }
          for (const e of graph.get(file) ?? []) {
            if (!e.internal && !packages.includes(e.target)) offences.push(`${describeEdge(e)}, reached from ${entry}${via}`);
          }
        }
      }
      return offences;
    },
  },
  {
    name: 'the opt-in kernel sets (src/kernels/cpu, src/kernels/wasm) are reached only from their entries',
    check: (project) => {
      const graph = valueGraph(project);
      const offences: string[] = [];
      for (const entry of ['src/index.ts', 'src/node.ts', 'src/cli/main.ts']) {
        for (const [file, chain] of reach(graph, entry)) {
          if (file.startsWith('src/kernels/cpu/') || file.startsWith('src/kernels/wasm/')) offences.push(`${file} is reached from ${entry} (${chain.join(' → ')})`);
        }
      }
      return offences;
    },
  },
  {
    name: "imports of a package's build files (@tensorflow/tfjs-layers/dist/...) are type-only",
    check: (project) => edgesOf(project).filter((e) => !e.internal && !e.typeOnly && DEEP_IMPORT.test(e.spec)).map(describeEdge),
  },
  {
    name: `no import cycle between source files (value imports), except the known ones (${KNOWN_CYCLES.join('; ')})`,
    check: (project) => {
      const graph = valueGraph(project);
      const offences: string[] = [];
      const seen = new Set<string>();
      const state = new Map<string, 'open' | 'done'>();
      const stack: string[] = [];
      const dfs = (file: string) => {
        state.set(file, 'open');
        stack.push(file);
        for (const e of graph.get(file) ?? []) {
          if (!e.internal) continue;
          if (state.get(e.target) === 'open') {
            const cycle = cycleName(stack.slice(stack.indexOf(e.target)));
            if (!KNOWN_CYCLES.includes(cycle) && !seen.has(cycle)) offences.push(`${e.at}: ${cycle}`);
            seen.add(cycle);
          } else if (!state.has(e.target)) dfs(e.target);
        }
        stack.pop();
        state.set(file, 'done');
      };
      for (const file of [...project.keys()].sort()) if (!state.has(file)) dfs(file);
      return offences;
    },
  },
];

// --- tfjs' private parts: src/tfjs_internals.ts only

const INTERNALS = 'src/tfjs_internals.ts';

/** `x`, `(x)`, `x as T`, `x!` → `x`. */
function unwrap(node: ts.Expression): ts.Expression {
  let n = node;
  while (ts.isParenthesizedExpression(n) || ts.isAsExpression(n) || ts.isNonNullExpression(n) || ts.isTypeAssertionExpression(n) || ts.isSatisfiesExpression(n)) n = n.expression;
  return n;
}

/** The name a property access or element access (with a literal key) reads: `a.b`, `a['b']` → `b`. */
function accessedName(node: ts.Node): { object: ts.Expression; name: string } | undefined {
  if (ts.isPropertyAccessExpression(node)) return { object: node.expression, name: node.name.text };
  if (ts.isElementAccessExpression(node) && ts.isStringLiteralLike(node.argumentExpression)) return { object: node.expression, name: node.argumentExpression.text };
  return undefined;
}

/** A member of a type literal in a cast, `x as unknown as { momentum: number }`. */
function castMemberNames(node: ts.Node): { names: string[] } | undefined {
  if (!ts.isAsExpression(node) && !ts.isTypeAssertionExpression(node)) return undefined;
  const names: string[] = [];
  const collect = (t: ts.Node) => {
    if (ts.isTypeLiteralNode(t)) for (const m of t.members) if (m.name && (ts.isIdentifier(m.name) || ts.isStringLiteral(m.name))) names.push(m.name.text);
    ts.forEachChild(t, collect);
  };
  collect(node.type);
  return { names };
}

/** Files other than src/tfjs_internals.ts, with each offence `find` reports. */
function privateRule(name: string, find: (sf: ts.SourceFile, node: ts.Node) => string | undefined): Rule {
  return {
    name: `${name}: only in src/tfjs_internals.ts`,
    check: (project) => {
      const offences: string[] = [];
      for (const [file, sf] of project) {
        if (file === INTERNALS) continue;
        visit(sf, (node) => {
          const found = find(sf, node);
          if (found !== undefined) offences.push(`${where(sf, node)} ${found}`);
        });
      }
      return offences;
    },
  };
}

/** Names of tfjs-core's tape, engine and environment internals, and of tfjs-layers' `Layer._refCount`. */
const PRIVATE_NAMES = ['activeTape', 'gradientDepth', 'kernelDepth', 'startTape', 'endTape', 'scopedRun', 'backpropagateGradients', 'getFilteredNodesXToY', '_refCount', 'flagRegistry'];

/** `tf.engine()`, `engine()`. */
function isEngineCall(node: ts.Node): node is ts.CallExpression {
  if (!ts.isCallExpression(node)) return false;
  const callee = unwrap(node.expression);
  return (ts.isIdentifier(callee) && callee.text === 'engine') || (ts.isPropertyAccessExpression(callee) && callee.name.text === 'engine');
}

/** `engine`, `this.engine`, `ENGINE`, `tf.engine()`, `tapeEngine()`: an expression that names the engine. */
function isEngine(node: ts.Expression): boolean {
  const n = unwrap(node);
  const callee = ts.isCallExpression(n) ? unwrap(n.expression) : n;
  const name = ts.isIdentifier(callee) ? callee.text : ts.isPropertyAccessExpression(callee) ? callee.name.text : '';
  return /engine/i.test(name);
}

const PRIVATE_RULES: Rule[] = [
  privateRule(`the names of tfjs' tape and engine internals and of Layer._refCount, Environment.flagRegistry (${PRIVATE_NAMES.join(', ')})`, (_sf, node) => {
    const text = ts.isIdentifier(node) || ts.isPrivateIdentifier(node) || ts.isStringLiteralLike(node) ? node.text : undefined;
    return text !== undefined && PRIVATE_NAMES.includes(text) ? `uses '${text}'` : undefined;
  }),
  privateRule("the engine's registeredVariables (a property access: the function of the same name from src/tfjs_internals.ts is fine)", (_sf, node) => {
    const access = accessedName(node);
    if (access?.name === 'registeredVariables') return `reads .registeredVariables of ${access.object.getText()}`;
    const cast = castMemberNames(node);
    return cast?.names.includes('registeredVariables') ? 'casts to a type with a registeredVariables member' : undefined;
  }),
  privateRule("the engine's state (engine.state, tf.engine().state, a cast of the engine to a type with a state member)", (_sf, node) => {
    const access = accessedName(node);
    if (access?.name === 'state' && isEngine(access.object)) return `reads .state of ${access.object.getText()}`;
    const cast = castMemberNames(node);
    if (cast && isEngine((node as ts.AsExpression).expression) && cast.names.length > 0) return `casts ${(node as ts.AsExpression).expression.getText()} to a type with ${cast.names.join(', ')}`;
    return undefined;
  }),
  privateRule('tf.engine() for anything but running a kernel (tf.engine().runKernel)', (_sf, node) => {
    if (!isEngineCall(node)) return undefined;
    const parent = node.parent;
    const runsKernel = ts.isPropertyAccessExpression(parent) && parent.name.text === 'runKernel' && ts.isCallExpression(parent.parent);
    return runsKernel ? undefined : `uses ${node.getText()} other than as ${node.getText()}.runKernel(...)`;
  }),
  privateRule("a layer's private momentum written from outside (x.momentum = …, x['momentum'] = …, defineProperty or Reflect.set of 'momentum', a cast to a type with a momentum member)", (_sf, node) => {
    if (ts.isBinaryExpression(node) && node.operatorToken.kind >= ts.SyntaxKind.FirstAssignment && node.operatorToken.kind <= ts.SyntaxKind.LastAssignment) {
      const access = accessedName(unwrap(node.left));
      if (access?.name === 'momentum' && unwrap(access.object).kind !== ts.SyntaxKind.ThisKeyword) return `assigns ${node.left.getText()}`;
    }
    if (ts.isCallExpression(node) && /^(Object\.defineProperty|Reflect\.set|Object\.defineProperties)$/.test(node.expression.getText())) {
      if (node.arguments.some((a) => ts.isStringLiteralLike(a) && a.text === 'momentum')) return `sets 'momentum' with ${node.expression.getText()}`;
    }
    const cast = castMemberNames(node);
    return cast?.names.includes('momentum') ? 'casts to a type with a momentum member' : undefined;
  }),
];

// ------------------------------------------------------------------------------- the tests

const root = path.resolve(process.env.S3N_ARCHITECTURE_ROOT ?? path.join(__dirname, '..'));
const ALL_RULES = [...RULES, ...PRIVATE_RULES];

function expectFollowed(rule: Rule, project: Project): void {
  const offences = rule.check(project);
  if (offences.length > 0) throw new Error(`${rule.name}, but:\n  ${offences.join('\n  ')}`);
}

describe(`src/ follows ARCHITECTURE.md (${root})`, () => {
  const project = loadProject(root);

  it('finds the sources', () => {
    expect(project.size).toBeGreaterThan(50);
    expect(project.has(INTERNALS)).toBe(true);
  });

  it.each(ALL_RULES.map((r) => [r.name, r] as const))('%s', (_name, rule) => expectFollowed(rule, project));

  it('src/tfjs_internals.ts is where the private names are (else the private-name rules check nothing)', () => {
    const sf = project.get(INTERNALS) as ts.SourceFile;
    const inInternals = new Map<string, string[]>();
    for (const rule of PRIVATE_RULES) inInternals.set(rule.name, rule.check(new Map([['src/elsewhere.ts', sf]])));
    for (const [name, offences] of inInternals) expect([name, offences.length > 0]).toEqual([name, true]);
  });
});

/** A tree that follows every rule; each case below breaks one. */
const GOOD: Record<string, string> = {
  'src/defaults.ts': 'export const D = { gridSize: 31 };',
  'src/tfjs_internals.ts': "import * as tf from '@tensorflow/tfjs-core';\nimport { fail } from './ops/validation';\nexport const x = (tf.engine() as unknown as { state: { activeTape: unknown } }).state.activeTape;",
  'src/ops/validation.ts': "import * as tf from '@tensorflow/tfjs-core';\nexport function fail(): void {}",
  'src/ops/index.ts': "export { fail } from './validation';\nexport { gridSample } from './grid_sample';",
  'src/ops/grid_sample.ts': "import * as tf from '@tensorflow/tfjs-core';\nimport { D } from '../defaults';\nimport { run } from '../kernels/fused/grid_sample';\nexport const gridSample = () => tf.engine().runKernel('K', {}, {});",
  'src/kernels/fused/grid_sample.ts': "import { isFlagRegistered } from '../../tfjs_internals';\nexport const run = 1;",
  'src/kernels/cpu/index.ts': "import * as tf from '@tensorflow/tfjs-core';",
  'src/kernels/wasm/threads.ts': "import * as os from 'node:os';\nimport * as wasm from '@tensorflow/tfjs-backend-wasm';\nimport { fail } from '../../ops/validation';",
  'src/kernels/registration.ts': "import * as tf from '@tensorflow/tfjs-core';",
  'src/layers/common.ts': "import type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology';\nimport { gridSample } from '../ops/grid_sample';",
  'src/model/optimizer.ts': 'export class GroupedSGD { readonly momentum: number; constructor() { this.momentum = 0.9; } }',
  'src/model/index.ts': "export { GroupedSGD } from './optimizer';",
  'src/backbones/resnet.ts': "import * as tfl from '@tensorflow/tfjs-layers';\nimport type { StateDict } from '../io/state_dict';\nexport const bn = tfl.layers.batchNormalization({ momentum: 0.9 });",
  'src/io/state_dict.ts': "import * as fs from 'node:fs';\nexport type StateDict = Record<string, unknown>;",
  'src/data/augment.ts': "import sharp from 'sharp';\nimport * as fs from 'fs';",
  'src/cli/main.ts': "import { main } from './commands';",
  'src/cli/commands.ts': "import sharp from 'sharp';\nimport { D } from '../defaults';\nexport const main = 1;",
  'src/index.ts': "export * as ops from './ops';\nexport * from './model';\nexport type { StateDict } from './io/state_dict';",
  'src/node.ts': "export * from './io/state_dict';",
  'src/cpu-training.ts': "import '@tensorflow/tfjs-backend-cpu';\nimport './kernels/cpu';\nimport './kernels/registration';",
};

/** Each case: the rule (by the start of its name), a file to add or replace, and what its offence says. */
const BROKEN: Array<[rule: string, file: string, text: string, offence: RegExp]> = [
  ['every file', 'src/utils/x.ts', 'export const x = 1;', /src\/utils\/x\.ts: room 'utils'/],
  ['src/ops/ imports only', 'src/ops/peaks.ts', "import { GroupedSGD } from '../model';", /src\/ops\/peaks\.ts:1 imports src\/model\/index\.ts \('\.\.\/model'\)/],
  ['src/ops/ imports only', 'src/ops/peaks.ts', "import type { X } from '../layers/common';", /src\/ops\/peaks\.ts:1 imports types from src\/layers\/common\.ts/],
  ['src/layers/ imports only', 'src/layers/x.ts', "import { main } from '../cli/commands';", /src\/layers\/x\.ts:1 imports src\/cli\/commands\.ts/],
  ['src/model/ imports only', 'src/model/x.ts', "import { readFileSync } from 'node:fs';", /src\/model\/x\.ts:1 imports node:fs/],
  ['src/data/ imports only', 'src/data/x.ts', "const m = require('cli-progress');", /src\/data\/x\.ts:1 imports cli-progress/],
  ['src/kernels/ imports only', 'src/kernels/wasm/x.ts', "import * as os from 'node:os';", /src\/kernels\/wasm\/x\.ts:1 imports node:os/],
  ['src/kernels/wasm/threads.ts imports only', 'src/kernels/wasm/threads.ts', "import sharp from 'sharp';", /src\/kernels\/wasm\/threads\.ts:1 imports sharp/],
  ['src/backbones/ imports only', 'src/backbones/x.ts', "import { StateDict } from '../io/state_dict';", /src\/backbones\/x\.ts:1 imports src\/io\/state_dict\.ts/],
  ['src/defaults.ts imports only', 'src/defaults.ts', "import * as tf from '@tensorflow/tfjs-core';", /src\/defaults\.ts:1 imports @tensorflow\/tfjs-core/],
  ['only src/cli imports src/cli', 'src/io/x.ts', "import { main } from '../cli/commands';", /src\/io\/x\.ts:1 imports src\/cli\/commands\.ts/],
  ['nothing in src imports an entry point', 'src/model/x.ts', "import { ops } from '../index';", /src\/model\/x\.ts:1 imports src\/index\.ts/],
  ["the browser entries' value imports", 'src/ops/index.ts', "export { fail } from './validation';\nexport async function f() { return import('h5wasm/node'); }", /src\/ops\/index\.ts:2 imports h5wasm \('h5wasm\/node'\), reached from src\/index\.ts \(src\/index\.ts → src\/ops\/index\.ts\)/],
  ["the browser entries' value imports", 'src/model/index.ts', "export { GroupedSGD } from './optimizer';\nexport * from '../io/state_dict';", /src\/io\/state_dict\.ts is reached from src\/index\.ts/],
  ['the opt-in kernel sets', 'src/model/index.ts', "export { GroupedSGD } from './optimizer';\nimport '../kernels/cpu';", /src\/kernels\/cpu\/index\.ts is reached from src\/index\.ts/],
  ["imports of a package's build files", 'src/layers/x.ts', "import { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology';", /src\/layers\/x\.ts:1 imports @tensorflow\/tfjs-layers \('@tensorflow\/tfjs-layers\/dist\/engine\/topology'\)/],
  ['no import cycle', 'src/ops/validation.ts', "import { gridSample } from './grid_sample';", /: src\/kernels\/fused\/grid_sample\.ts → src\/tfjs_internals\.ts → src\/ops\/validation\.ts → src\/ops\/grid_sample\.ts → src\/kernels\/fused\/grid_sample\.ts/],
  ['the names of tfjs', 'src/model/x.ts', "import * as tf from '@tensorflow/tfjs-core';\nconst e = tf.engine() as any;\nexport const tape = e.state.activeTape;", /src\/model\/x\.ts:3 uses 'activeTape'/],
  ['the names of tfjs', 'src/model/x.ts', "export const n = (layer: unknown) => (layer as { _refCount: number })._refCount;", /src\/model\/x\.ts:1 uses '_refCount'/],
  ['the names of tfjs', 'src/kernels/fused/x.ts', "export const r = (env: any) => 'flagRegistry' in env;", /src\/kernels\/fused\/x\.ts:1 uses 'flagRegistry'/],
  ["the engine's registeredVariables", 'src/model/x.ts', "import * as tf from '@tensorflow/tfjs-core';\nexport const v = (tf.engine() as any).registeredVariables;", /src\/model\/x\.ts:2 reads \.registeredVariables/],
  ["the engine's state", 'src/model/x.ts', "import * as tf from '@tensorflow/tfjs-core';\nexport const s = (tf.engine() as any).state;", /src\/model\/x\.ts:2 reads \.state of \(tf\.engine\(\) as any\)/],
  ["the engine's state", 'src/model/x.ts', "declare const engine: any;\nexport const d = engine['state'];", /src\/model\/x\.ts:2 reads \.state of engine/],
  ['tf.engine() for anything but', 'src/model/x.ts', "import * as tf from '@tensorflow/tfjs-core';\nconst e = tf.engine();\nexport {};", /src\/model\/x\.ts:2 uses tf\.engine\(\) other than/],
  ["a layer's private momentum", 'src/cli/x.ts', "export function set(layer: unknown) { (layer as any).momentum = 0.9; }", /src\/cli\/x\.ts:1 assigns \(layer as any\)\.momentum/],
  ["a layer's private momentum", 'src/cli/x.ts', "export function set(bn: any) { bn['momentum'] = 0.9; }", /src\/cli\/x\.ts:1 assigns bn\['momentum'\]/],
  ["a layer's private momentum", 'src/cli/x.ts', "export function set(bn: object) { Reflect.set(bn, 'momentum', 0.9); }", /src\/cli\/x\.ts:1 sets 'momentum' with Reflect\.set/],
  ["a layer's private momentum", 'src/cli/x.ts', "export const m = (l: unknown) => (l as unknown as { momentum: number }).momentum;", /src\/cli\/x\.ts:1 casts to a type with a momentum member/],
];

describe('each rule catches what it forbids', () => {
  it('the made-up tree follows every rule', () => {
    for (const rule of ALL_RULES) expectFollowed(rule, projectFrom(GOOD));
  });

  it.each(BROKEN)('%s … (%s: %s)', (ruleName, file, text, offence) => {
    const rule = ALL_RULES.find((r) => r.name.startsWith(ruleName));
    expect(rule).toBeDefined();
    const offences = (rule as Rule).check(projectFrom({ ...GOOD, [file]: text }));
    expect(offences.join('\n')).toMatch(offence);
  });
});
