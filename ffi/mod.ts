/**
 * libc through Deno FFI: the symbol table, constants and struct layouts, typed errors.
 * @module
 */
export * from "./libc.ts";
export * from "./errors.ts";
export * as C from "./consts.ts";
