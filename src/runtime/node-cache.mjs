// Loaded before the Node entrypoint (`node --import ./src/runtime/node-cache.mjs src/runtime/node.ts`):
// turns on Node's compile cache, which keeps each TypeScript file's stripped JavaScript and V8's
// compiled code on disk (NODE_COMPILE_CACHE, or node-compile-cache in the temporary folder). From
// the second start on, Node loads no TypeScript stripper at all: the process starts faster and
// holds about 20 MB less (bench/RESULTS.md). Where the folder can't be written, nothing changes.
import { enableCompileCache } from 'node:module'

enableCompileCache?.()
