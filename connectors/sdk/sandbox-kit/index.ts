/**
 * The HTTP core every platform sandbox shares: a declared route table, the plan/endpoint/credit limiter of
 * the platform's limit table (connectors/sdk/limits.ts), injected faults, JSON error answers.
 */
export { FaultQueue, type Fault, type FaultSpec } from './faults.ts';
export { HttpError, readRaw, send, type Reply } from './reply.ts';
export { Router, type RouteMatch, type RouteSpec } from './router.ts';
export { startKitServer, type KitHandler, type KitRequest, type KitServer, type KitServerOptions, type SandboxDeclaration } from './server.ts';
