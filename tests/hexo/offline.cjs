'use strict';
// Preloaded into every `hexo generate` the tests and scripts/hexo-preview run (NODE_OPTIONS=--require):
// a socket may only connect to a loopback address or a local socket, so no theme reaches the
// internet (Redefine, for one, asks its own server for the latest version on every build).
const net = require('net');

const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|::1|::ffff:127(?:\.\d{1,3}){3})$/i;
const connect = net.Socket.prototype.connect;

function target(args) {
  let first = args[0];
  if (Array.isArray(first)) first = first[0]; // internal normalised form
  if (first !== null && typeof first === 'object') {
    if (first.path) return { path: first.path };
    return { host: first.host || 'localhost' };
  }
  if (typeof first === 'string' && !/^\d+$/.test(first)) return { path: first };
  return { host: typeof args[1] === 'string' ? args[1] : 'localhost' };
}

net.Socket.prototype.connect = function (...args) {
  const to = target(args);
  if (to.path || LOOPBACK.test(to.host)) return connect.apply(this, args);
  const error = new Error(`network access to ${to.host} refused: tests run offline`);
  error.code = 'ECONNREFUSED';
  process.nextTick(() => this.destroy(error));
  return this;
};
