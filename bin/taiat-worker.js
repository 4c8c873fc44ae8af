#!/usr/bin/env node
import { main } from '../dist/cli/taiat-worker.js';

main(process.argv.slice(2));
