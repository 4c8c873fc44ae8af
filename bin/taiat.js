#!/usr/bin/env node
// The guard on the database driver is installed before the driver loads (dist/driver/register.js).
await import('../dist/driver/register.js');
const { main } = await import('../dist/cli/taiat.js');

main(process.argv.slice(2));
