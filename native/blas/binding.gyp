{
  "targets": [
    {
      "target_name": "dtql_blas",
      "sources": ["src/addon.c", "src/layers.c", "src/rows.c"],
      "cflags": ["-O3", "-ffp-contract=off", "-fno-math-errno", "-fno-trapping-math"],
      "libraries": ["-lopenblas", "-lpthread"]
    }
  ]
}
