/**
 * The null distributions behind the Kolmogorov–Smirnov p-values:
 * - `kolmogorovSf(n, x)`: P(Dₙ ≥ x) for the two-sided one-sample statistic Dₙ of n i.i.d.
 *   draws (SciPy's `kstwo.sf(x, n)`). SciPy's two-sample test in its asymptotic mode evaluates
 *   it at n = round(n₁n₂ / (n₁ + n₂)), so the two-sample code uses it there.
 * - `smirnovSf(n, x)`: P(Dₙ⁺ ≥ x) for the one-sided statistic (SciPy's `special.smirnov`).
 *
 * The regimes follow Simard & L'Ecuyer (2011), "Computing the Two-Sided Kolmogorov–Smirnov
 * Distribution", J. Stat. Software 39(11), as SciPy does: the Ruben–Gambino closed forms at the
 * ends, twice the exact one-sided tail (Birnbaum–Tingey, each term through Loader's
 * saddle-point binomial so large n loses no digits) in the upper tail, Durbin's matrix
 * (Marsaglia–Tsang–Wang) for small n·x, and the Pelz–Good asymptotic series otherwise. Where
 * SciPy uses Pomeranz's recursion (n ≤ 140, 0.754693 < n·x² ≤ 4) this module uses Durbin's
 * matrix: both are exact algorithms for the same probability, so only rounding differs.
 *
 * Pure numerics; never throws — arguments outside the domain give NaN.
 */
import { logGamma } from './special.js';

const SCALE_EXPONENT = 128;
const SCALE_UP = 2 ** SCALE_EXPONENT;
const SCALE_DOWN = 2 ** -SCALE_EXPONENT;

const clip01 = (p: number) => (p < 0 ? 0 : p > 1 ? 1 : p);

const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

/** Stirling's series coefficients B₂ⱼ / (2j (2j − 1)), j = 1..8. */
const STIRLING = [
  1 / 12,
  -1 / 360,
  1 / 1260,
  -1 / 1680,
  1 / 1188,
  -691 / 360360,
  1 / 156,
  -3617 / 122400,
];

/** Σ B₂ⱼ / (2j (2j−1) k^(2j−1)) = ln k! − Stirling's formula; accurate for k > 15. */
function stirlingSeries(k: number): number {
  const inv2 = 1 / (k * k);
  let series = 0;
  for (let j = STIRLING.length - 1; j >= 0; j--) series = series * inv2 + STIRLING[j]!;
  return series / k;
}

/**
 * ln(n! / nⁿ) = ½ ln n − n + ½ ln 2π + stirlingSeries(n): the n·ln n terms cancel analytically,
 * so no large terms are subtracted (used for n > 140).
 */
function logFactorialOverPower(n: number): number {
  return 0.5 * Math.log(n) - n + HALF_LOG_2PI + stirlingSeries(n);
}

/** δ(k) = ln k! − (k + ½) ln k + k − ½ ln 2π, the error of Stirling's formula (integer k ≥ 1). */
function stirlingError(k: number): number {
  if (k <= 15) return logGamma(k + 1) - (k + 0.5) * Math.log(k) + k - HALF_LOG_2PI;
  return stirlingSeries(k);
}

/**
 * D(x, M) = x ln(x / M) + M − x ≥ 0, the deviance term of a binomial probability, without the
 * cancellation of the direct form when x ≈ M: with v = (x − M) / (x + M),
 * D = (x − M) v + 2x (v³/3 + v⁵/5 + …).
 */
function deviance(x: number, mean: number): number {
  if (Math.abs(x - mean) < 0.1 * (x + mean)) {
    const v = (x - mean) / (x + mean);
    let sum = (x - mean) * v;
    let power = 2 * x * v;
    const v2 = v * v;
    for (let j = 1; j < 1000; j++) {
      power *= v2;
      const next = sum + power / (2 * j + 1);
      if (next === sum) return next;
      sum = next;
    }
    return sum;
  }
  return x * Math.log(x / mean) + mean - x;
}

/**
 * C(n, j) pʲ qⁿ⁻ʲ with q = 1 − p given separately (both > 0), by Loader's saddle-point form
 * (C. Loader, "Fast and Accurate Computation of Binomial Probabilities", 2000): the large
 * logarithms cancel analytically, so the relative error stays near 1e-15 for any n.
 */
function binomialProbability(j: number, n: number, p: number, q: number): number {
  if (j === 0) return Math.exp(n * Math.log(q));
  if (j === n) return Math.exp(n * Math.log(p));
  const logCore =
    stirlingError(n) -
    stirlingError(j) -
    stirlingError(n - j) -
    deviance(j, n * p) -
    deviance(n - j, n * q);
  const logScale = Math.log(2 * Math.PI) + Math.log(j) + Math.log1p(-j / n);
  return Math.exp(logCore - 0.5 * logScale);
}

/**
 * P(Dₙ⁺ ≥ x), exact, by the Birnbaum–Tingey sum
 *   x · Σ_{j=0}^{⌊n(1−x)⌋} C(n, j) (1 − x − j/n)^(n−j) (x + j/n)^(j−1).
 * With pⱼ = x + j/n the term is the binomial probability C(n, j) pⱼʲ (1 − pⱼ)ⁿ⁻ʲ divided by pⱼ;
 * all terms are positive, and each is computed to near full precision.
 */
export function smirnovSf(n: number, x: number): number {
  if (!Number.isInteger(n) || n < 1 || Number.isNaN(x)) return Number.NaN;
  if (x <= 0) return 1;
  if (x >= 1) return 0;
  const last = Math.floor(n * (1 - x));
  let sum = 0;
  for (let j = 0; j <= last; j++) {
    const p = x + j / n;
    // n·q = n(1 − x) − j, formed from exact integers first.
    const q = (n - j - n * x) / n;
    if (q <= 0) {
      // Only when n(1 − x) is an integer: the term is 0^(n−j) = 0, except at j = n.
      if (j === n) sum += p ** (n - 1);
      continue;
    }
    sum += binomialProbability(j, n, p, q) / p;
  }
  return clip01(x * sum);
}

/** Row-major m×m product c = a·b. */
function multiply(a: Float64Array, b: Float64Array, m: number, c: Float64Array): void {
  c.fill(0);
  for (let i = 0; i < m; i++) {
    for (let k = 0; k < m; k++) {
      const aik = a[i * m + k]!;
      if (aik === 0) continue;
      for (let j = 0; j < m; j++) c[i * m + j] = c[i * m + j]! + aik * b[k * m + j]!;
    }
  }
}

/**
 * P(Dₙ < x) by Durbin's matrix formula (Marsaglia, Tsang & Wang 2003): with n·x = k − h,
 * k integer, 0 ≤ h < 1, P = n!/nⁿ · (Hⁿ)ₖₖ for a (2k−1)² matrix H of inverse factorials.
 * Powers of two keep the intermediate values in range.
 */
function durbinCdf(n: number, x: number): number {
  const nx = n * x;
  if (x >= 1) return 1;
  if (nx <= 0.5) return 0;
  const k = Math.ceil(nx);
  const h = k - nx;
  const m = 2 * k - 1;
  const H = new Float64Array(m * m);
  const invFactorial = new Float64Array(m + 1);
  invFactorial[0] = 1;
  for (let j = 1; j <= m; j++) invFactorial[j] = invFactorial[j - 1]! / j;
  for (let r = 0; r < m; r++) {
    for (let c = 0; c < m; c++) {
      const power = r - c + 1;
      if (power >= 0) H[r * m + c] = invFactorial[power]!;
    }
  }
  for (let r = 0; r < m; r++) {
    // First column and last row: the boundary cells only partly inside the band.
    H[r * m] = (1 - h ** (r + 1)) * invFactorial[r + 1]!;
    H[(m - 1) * m + r] = (1 - h ** (m - r)) * invFactorial[m - r]!;
  }
  H[(m - 1) * m] = (1 - 2 * h ** m + Math.max(0, 2 * h - 1) ** m) * invFactorial[m]!;

  // Square-and-multiply; each buffer pair is swapped after a product, so nothing is allocated
  // inside the loop.
  let power = H;
  let powerScratch = new Float64Array(m * m);
  let result: Float64Array<ArrayBuffer> | null = null;
  let resultScratch = new Float64Array(m * m);
  let powerExponent = 0;
  let resultExponent = 0;
  for (let e = n; e > 0; e = Math.floor(e / 2)) {
    if (e % 2 === 1) {
      if (result === null) {
        result = power.slice();
      } else {
        multiply(result, power, m, resultScratch);
        [result, resultScratch] = [resultScratch, result];
      }
      resultExponent += powerExponent;
    }
    if (e > 1) {
      multiply(power, power, m, powerScratch);
      [power, powerScratch] = [powerScratch, power];
      powerExponent *= 2;
      if (Math.abs(power[(k - 1) * m + (k - 1)]!) > SCALE_UP) {
        for (let i = 0; i < power.length; i++) power[i] = power[i]! * SCALE_DOWN;
        powerExponent += SCALE_EXPONENT;
      }
    }
  }
  let p = (result ?? H)[(k - 1) * m + (k - 1)]!;
  let exponent = resultExponent;
  for (let i = 1; i <= n; i++) {
    p = (i * p) / n;
    if (Math.abs(p) < SCALE_DOWN) {
      p *= SCALE_UP;
      exponent -= SCALE_EXPONENT;
    }
  }
  // Two steps, so a large exponent cannot overflow before p scales it back.
  const half = Math.trunc(exponent / 2);
  return clip01(p * 2 ** half * 2 ** (exponent - half));
}

const PI2 = Math.PI * Math.PI;
const PI4 = PI2 * PI2;
const PI6 = PI4 * PI2;
const SQRT_2PI = Math.sqrt(2 * Math.PI);

/**
 * The Pelz–Good (1976) approximation of P(Dₙ ≤ x): K₀ + K₁/√n + K₂/n + K₃/n^(3/2), each Kᵢ a
 * theta-function series in z = x√n that converges fast for small z.
 */
function pelzGoodCdf(n: number, x: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const z = Math.sqrt(n) * x;
  const z2 = z * z;
  const z4 = z2 * z2;
  const z6 = z4 * z2;
  const z8 = z4 * z4;
  // Below this z every exponential underflows: the probability is 0 to double precision.
  if (-PI2 / 8 / z2 < -708) return 0;
  const terms = Math.ceil((16 * z) / Math.PI);
  let k0 = 0;
  let k1 = 0;
  let k2 = 0;
  let k3 = 0;
  for (let k = terms; k >= 1; k--) {
    const m = 2 * k - 1;
    const m2 = m * m;
    const m4 = m2 * m2;
    const w = Math.exp((-m2 * PI2) / (8 * z2));
    k0 += w;
    k1 += (-z2 + (PI2 * m2) / 4) * w;
    k2 +=
      (6 * z6 + 2 * z4 + ((2 * z4 - 5 * z2) * PI2 * m2) / 4 + (PI4 * (1 - 2 * z2) * m4) / 16) * w;
    k3 +=
      (-30 * z6 -
        90 * z8 +
        (PI2 * (135 * z4 - 96 * z6) * m2) / 4 +
        (PI4 * (-60 * z2 + 212 * z4) * m4) / 16 +
        (PI6 * (5 - 30 * z2) * m4 * m2) / 64) *
      w;
  }
  let k2Extra = 0;
  let k3Extra = 0;
  for (let k = terms; k >= 1; k--) {
    const k2sq = k * k;
    const w = Math.exp((-PI2 * k2sq) / (2 * z2));
    k2Extra += k2sq * w;
    k3Extra += (3 * z2 - PI2 * k2sq) * k2sq * w;
  }
  const K0 = (SQRT_2PI * k0) / z;
  const K1 = (SQRT_2PI * k1) / (6 * z4);
  const K2 = (SQRT_2PI * k2) / (72 * z6 * z) - (PI2 * SQRT_2PI * k2Extra) / (36 * z2 * z);
  const K3 = (SQRT_2PI * k3) / (6480 * z8 * z2) + (PI2 * SQRT_2PI * k3Extra) / (216 * z6);
  const sqrtN = Math.sqrt(n);
  return K0 + K1 / sqrtN + K2 / n + K3 / (n * sqrtN);
}

/**
 * P(Dₙ ≥ x) for the two-sided one-sample Kolmogorov–Smirnov statistic of n draws — SciPy's
 * `kstwo.sf(x, n)`, with the same choice of method per region.
 */
export function kolmogorovSf(n: number, x: number): number {
  if (!Number.isInteger(n) || n < 1 || Number.isNaN(x)) return Number.NaN;
  if (x >= 1) return 0;
  if (x <= 0) return 1;
  const t = n * x;
  if (t <= 1) {
    // Ruben–Gambino: P(Dₙ ≤ x) = n!/nⁿ (2t − 1)ⁿ for 1/(2n) ≤ x ≤ 1/n.
    if (t <= 0.5) return 1;
    let cdf: number;
    if (n <= 140) {
      cdf = 1;
      for (let i = 1; i <= n; i++) cdf *= (i / n) * (2 * t - 1);
    } else {
      cdf = Math.exp(logFactorialOverPower(n) + n * Math.log(2 * t - 1));
    }
    return clip01(1 - cdf);
  }
  // Ruben–Gambino at the top: P(Dₙ ≥ x) = 2 (1 − x)ⁿ for x ≥ 1 − 1/n.
  if (t >= n - 1) return clip01(2 * (1 - x) ** n);
  // For x ≥ ½ the events Dₙ⁺ ≥ x and Dₙ⁻ ≥ x are disjoint.
  if (x >= 0.5) return clip01(2 * smirnovSf(n, x));
  const nx2 = t * x;
  if (n <= 140) {
    if (nx2 <= 4) return clip01(1 - durbinCdf(n, x));
    return clip01(2 * smirnovSf(n, x));
  }
  if (nx2 >= 370) return 0;
  // In the upper tail twice the one-sided tail is exact to double precision.
  if (nx2 >= 2.2) return clip01(2 * smirnovSf(n, x));
  const cdf = n <= 100_000 && n * x ** 1.5 <= 1.4 ? durbinCdf(n, x) : clip01(pelzGoodCdf(n, x));
  return clip01(1 - cdf);
}
