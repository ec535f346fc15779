/**
 * The shared-memory ring: file layout, creation, writer, reader and stats.
 * @module
 */
export * from "./layout.ts";
export { describeFsError, RingError, RingFile, validateHeader } from "./file.ts";
export type { RingGeometry } from "./file.ts";
export { createRing, formatSize, newHeader, parseSize, ringSizeProblem } from "./create.ts";
export type { CreateOptions, CreateResult } from "./create.ts";
export { RingWriter } from "./writer.ts";
export type { WriterOptions } from "./writer.ts";
export { MemberSlot, RingReader } from "./reader.ts";
export type { ReaderOptions } from "./reader.ts";
export { snapshot, snapshotOf } from "./stats.ts";
export type { DropCounts, ReaderKindName, ReaderSnapshot, RingSnapshot, WriterSnapshot } from "./stats.ts";
