import type { Rng } from '../rng';

/**
 * PyTorch's default nn.Linear initialisation (kaiming_uniform with a = sqrt(5)): weights and
 * biases uniform in +-1/sqrt(fan_in). Weights are laid out [in, out] (the transpose of torch's).
 */
export function torchLinearInit(rng: Rng, fanIn: number, fanOut: number): { weight: Float32Array; bias: Float32Array } {
  const bound = 1 / Math.sqrt(fanIn);
  const weight = new Float32Array(fanIn * fanOut);
  for (let i = 0; i < weight.length; i++) weight[i] = (2 * rng.uniform() - 1) * bound;
  const bias = new Float32Array(fanOut);
  for (let i = 0; i < bias.length; i++) bias[i] = (2 * rng.uniform() - 1) * bound;
  return { weight, bias };
}

/**
 * nn.init.orthogonal_ with gain 1, returned [in, out]: a Gaussian matrix orthonormalised by
 * modified Gram-Schmidt along its longer side, with the sign convention of torch's QR (diag(R) > 0).
 */
export function orthogonalInit(rng: Rng, fanIn: number, fanOut: number): Float32Array {
  // Work on the torch layout [out, in]: orthonormal rows if out <= in, else orthonormal columns.
  const rows = fanOut;
  const cols = fanIn;
  const tall = rows > cols;
  const n = tall ? rows : cols; // length of each vector to orthonormalise
  const k = tall ? cols : rows; // how many vectors
  const vectors: Float64Array[] = [];
  for (let v = 0; v < k; v++) {
    const vec = new Float64Array(n);
    for (let i = 0; i < n; i++) vec[i] = rng.normal();
    for (const prev of vectors) {
      let dot = 0;
      for (let i = 0; i < n; i++) dot += (vec[i] as number) * (prev[i] as number);
      for (let i = 0; i < n; i++) vec[i] = (vec[i] as number) - dot * (prev[i] as number);
    }
    let norm = 0;
    for (let i = 0; i < n; i++) norm += (vec[i] as number) ** 2;
    norm = Math.sqrt(norm);
    for (let i = 0; i < n; i++) vec[i] = (vec[i] as number) / norm;
    vectors.push(vec);
  }
  const out = new Float32Array(fanIn * fanOut); // [in, out]
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const value = tall ? (vectors[c] as Float64Array)[r] : (vectors[r] as Float64Array)[c];
      out[c * fanOut + r] = value as number;
    }
  }
  return out;
}
