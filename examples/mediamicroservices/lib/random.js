// Random strings drawn uniformly from [0-9A-Za-z] (salts, short URLs).
const ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** `n` characters uniform over the 62 alphanumerics (rejection sampling, no modulo bias). */
export function randomAlnum(n) {
  let s = "";
  while (s.length < n) {
    const bytes = crypto.getRandomValues(new Uint8Array(n + 8));
    for (let i = 0; i < bytes.length && s.length < n; i++) {
      if (bytes[i] < 248) s += ALNUM[bytes[i] % 62]; // 248 = 4 * 62
    }
  }
  return s;
}
