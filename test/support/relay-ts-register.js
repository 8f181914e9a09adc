// Lets a plain `node` child process run the repository's TypeScript without a build step:
//   node --require test/support/relay-ts-register.js test/support/relay-fixture.ts
// Each .ts file is transpiled on require with TypeScript's transpileModule (no type check: the
// tests' own `tsc --noEmit` does that), and the @strata/* path aliases of tsconfig.json resolve
// to their sources. Used by the tests that must kill -9 a process (relay failover, agent
// restart).
const fs = require('node:fs');
const path = require('node:path');
const Module = require('node:module');
const ts = require('typescript');

const root = path.resolve(__dirname, '..', '..');
const config = ts.readConfigFile(path.join(root, 'tsconfig.json'), ts.sys.readFile);
if (config.error !== undefined) {
  throw new Error(ts.flattenDiagnosticMessageText(config.error.messageText, '\n'));
}
const { compilerOptions } = config.config;
const baseUrl = path.resolve(root, compilerOptions.baseUrl ?? '.');

// '@strata/bus' -> '<root>/libs/bus/src/index.ts'; '@strata/proto/*' -> a prefix mapping.
const aliases = Object.entries(compilerOptions.paths ?? {}).map(([pattern, [target]]) => ({
  wildcard: pattern.endsWith('/*'),
  from: pattern.replace(/\*$/, ''),
  // path.resolve drops a trailing slash, which a prefix mapping needs.
  to: path.resolve(baseUrl, target.replace(/\*$/, '')) + (pattern.endsWith('/*') ? path.sep : ''),
}));

const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  for (const alias of aliases) {
    if (alias.wildcard ? request.startsWith(alias.from) : request === alias.from) {
      const mapped = alias.wildcard ? alias.to + request.slice(alias.from.length) : alias.to;
      return resolveFilename.call(this, mapped, ...rest);
    }
  }
  return resolveFilename.call(this, request, ...rest);
};

const transpileOptions = {
  module: ts.ModuleKind.CommonJS,
  target: ts.ScriptTarget.ES2022,
  esModuleInterop: true,
  experimentalDecorators: true,
  emitDecoratorMetadata: true,
  inlineSourceMap: true,
};

require.extensions['.ts'] = function (module, filename) {
  const source = fs.readFileSync(filename, 'utf8');
  const { outputText } = ts.transpileModule(source, {
    compilerOptions: transpileOptions,
    fileName: filename,
  });
  module._compile(outputText, filename);
};
