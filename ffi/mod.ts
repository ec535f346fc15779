/**
 * libc through Deno FFI: the symbol table, constants and struct layouts, struct builders, native
 * memory, errno, and the user-facing error type.
 * @module
 */
export * from "./libc.ts";
export * from "./errors.ts";
export { E } from "./errno.ts";
export * from "./memory.ts";
export * from "./structs.ts";
export { getAddresses } from "./resolve.ts";
export * as C from "./consts.ts";
