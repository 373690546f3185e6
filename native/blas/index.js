'use strict';
// Built by `node-gyp rebuild` at install time; absent when OpenBLAS or a compiler is missing.
module.exports = require('./build/Release/dtql_blas.node');
