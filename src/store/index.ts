export * from './tensor-store.ts';
export { createMemoryTensorStore, memoryBackend } from './memory-store.ts';
export { openIdbTensorStore, idbBackend, TENSOR_DB_NAME } from './idb-store.ts';
export { blobSource } from './blob-source.ts';
export { storeImported, loadRunnable } from './import.ts';
export { storedModelSource, storeSink, putStreamedModel } from './source.ts';
