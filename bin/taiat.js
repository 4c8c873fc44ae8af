#!/usr/bin/env node
import { main } from '../dist/cli/taiat.js';

main(process.argv.slice(2));
