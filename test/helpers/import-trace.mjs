// node --import ./test/helpers/import-trace.mjs …: appends every module URL the program resolves
// to the file named by FERRY_IMPORT_TRACE (used to prove --version loads no heavy module).
import { register } from 'node:module';

register('./import-trace-hooks.mjs', import.meta.url, { data: { file: process.env.FERRY_IMPORT_TRACE } });
