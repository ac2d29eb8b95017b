// MD5 (RFC 1321, https://www.rfc-editor.org/rfc/rfc1321) for the upload page.
//
// Create Asset wants the file's MD5 as `fileHash` before the upload starts, and Web Crypto has
// no MD5, so the page computes it itself. The hasher is incremental so that a file can be read in
// slices: a 10 MB document never has to sit in memory whole.

// T[i] = floor(2^32 * |sin(i + 1)|), written out (RFC 1321 §3.4) rather than computed, so the
// result cannot depend on how precisely an engine implements Math.sin.
const T = new Int32Array([
  0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee,
  0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
  0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be,
  0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
  0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa,
  0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
  0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed,
  0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
  0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c,
  0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
  0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05,
  0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
  0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039,
  0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
  0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1,
  0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
]);

// Left-rotation amounts: four per round, repeated over that round's 16 steps.
const SHIFTS = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];

const BLOCK = 64;

/** Reads slices of this size when hashing a file: large enough to be quick, small enough to keep
 * memory flat. */
export const FILE_CHUNK_BYTES = 2 * 1024 * 1024;

/**
 * An incremental MD5 hasher: `update()` any number of times, then `hex()`.
 *
 * All arithmetic is on 32-bit integers: `| 0` wraps sums modulo 2^32 (the intermediate sums of a
 * few 32-bit values stay exact in a double).
 */
export class Md5 {
  constructor() {
    this.state = new Int32Array([0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476]);
    this.block = new Uint8Array(BLOCK);
    this.blockLength = 0;
    this.byteCount = 0;
    this.words = new Int32Array(16);
  }

  /** Adds bytes to the message. Returns the hasher, so calls can be chained. */
  update(bytes) {
    if (!(bytes instanceof Uint8Array)) throw new TypeError("Md5.update expects a Uint8Array");
    this.byteCount += bytes.length;
    let offset = 0;
    if (this.blockLength > 0) {
      const take = Math.min(BLOCK - this.blockLength, bytes.length);
      this.block.set(bytes.subarray(0, take), this.blockLength);
      this.blockLength += take;
      offset = take;
      if (this.blockLength < BLOCK) return this;
      this.#compress(this.block, 0);
      this.blockLength = 0;
    }
    // Whole blocks straight from the input, without copying them first.
    for (; offset + BLOCK <= bytes.length; offset += BLOCK) this.#compress(bytes, offset);
    this.block.set(bytes.subarray(offset), 0);
    this.blockLength = bytes.length - offset;
    return this;
  }

  /** The digest of everything added so far, as 32 lowercase hex digits. Finishing works on a
   * copy, so more bytes may still be added afterwards. */
  hex() {
    // Padding (RFC 1321 §3.1-3.2): a 1 bit, zeros up to 56 mod 64, then the message length in
    // bits as a 64-bit little-endian number (split in two because of JS bitwise limits).
    const padLength = this.blockLength < 56 ? 56 - this.blockLength : 120 - this.blockLength;
    const tail = new Uint8Array(padLength + 8);
    tail[0] = 0x80;
    const lengthField = new DataView(tail.buffer, padLength);
    lengthField.setUint32(0, (this.byteCount % 0x20000000) * 8, true);
    lengthField.setUint32(4, Math.floor(this.byteCount / 0x20000000), true);
    const state = this.#copy().update(tail).state;
    // The digest is the four state words, each written low byte first.
    let hex = "";
    for (const word of state) {
      for (let shift = 0; shift < 32; shift += 8) {
        hex += ((word >>> shift) & 0xff).toString(16).padStart(2, "0");
      }
    }
    return hex;
  }

  #copy() {
    const copy = new Md5();
    copy.state.set(this.state);
    copy.block.set(this.block);
    copy.blockLength = this.blockLength;
    copy.byteCount = this.byteCount;
    return copy;
  }

  // One 64-byte block (RFC 1321 §3.4), written as a loop over the 64 steps.
  #compress(bytes, offset) {
    const x = this.words;
    for (let i = 0; i < 16; i++) {
      const j = offset + i * 4;
      x[i] = bytes[j] | (bytes[j + 1] << 8) | (bytes[j + 2] << 16) | (bytes[j + 3] << 24);
    }
    let [a, b, c, d] = this.state;
    for (let i = 0; i < 64; i++) {
      let f;
      let k;
      if (i < 16) {
        f = (b & c) | (~b & d);
        k = i;
      } else if (i < 32) {
        f = (b & d) | (c & ~d);
        k = (5 * i + 1) & 15;
      } else if (i < 48) {
        f = b ^ c ^ d;
        k = (3 * i + 5) & 15;
      } else {
        f = c ^ (b | ~d);
        k = (7 * i) & 15;
      }
      const s = SHIFTS[((i >> 4) << 2) | (i & 3)];
      const sum = (a + f + T[i] + x[k]) | 0;
      a = d;
      d = c;
      c = b;
      b = (b + ((sum << s) | (sum >>> (32 - s)))) | 0;
    }
    const state = this.state;
    state[0] = (state[0] + a) | 0;
    state[1] = (state[1] + b) | 0;
    state[2] = (state[2] + c) | 0;
    state[3] = (state[3] + d) | 0;
  }
}

/**
 * The MD5 of a Blob (or File) as hex, read in `FILE_CHUNK_BYTES` slices. `onProgress(fraction)`
 * is called after each slice; `signal` (an AbortSignal) stops the reading.
 */
export async function md5OfBlob(blob, { onProgress, signal, chunkBytes = FILE_CHUNK_BYTES } = {}) {
  const md5 = new Md5();
  for (let start = 0; start < blob.size; start += chunkBytes) {
    signal?.throwIfAborted();
    const slice = blob.slice(start, Math.min(start + chunkBytes, blob.size));
    md5.update(new Uint8Array(await slice.arrayBuffer()));
    onProgress?.(Math.min(start + chunkBytes, blob.size) / blob.size);
  }
  return md5.hex();
}
