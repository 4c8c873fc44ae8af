// The same package from CommonJS (Node 20.19 and later load ES modules with require()).
import taiat = require('taiat');

const manager: typeof taiat.JobManager = taiat.JobManager;
console.log(JSON.stringify({ cjs: typeof manager.connect, codes: taiat.ERROR_CODES.includes('TAIAT_INVALID_INPUT') }));
