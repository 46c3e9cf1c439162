// The process-wide state of one service process, shared by the "pyrosome"
// module (pyrosome.mjs) and the process entry point (service.mjs).
export const state = {
  self: null, // this service's name
  manifest: null, // readManifest() result
  directory: null, // {service: {port, methods}} once every service is up
  storeHost: null, // StoreHost (redis-store.mjs)
};
