#!/usr/bin/env node
// Runs the TypeScript sources directly: no build step between a checkout and a migration.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../services/cli/main.ts');
await main(process.argv);
