/** workerpool's worker script: registers the benchmark functions under their names. */

import workerpool from 'workerpool';
import { functions } from './functions.js';

workerpool.worker(functions);
