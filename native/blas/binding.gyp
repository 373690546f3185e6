{
  "targets": [
    {
      "target_name": "dtql_blas",
      "sources": ["src/sgemm.c"],
      "cflags": ["-O2"],
      "libraries": ["-lopenblas"]
    }
  ]
}
