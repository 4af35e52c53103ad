/** The worker module of bench/startup/piscina.ts. */

export { square as default } from './items.js';
