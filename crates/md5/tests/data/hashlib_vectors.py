"""Writes hashlib.txt: MD5 digests by Python's hashlib (OpenSSL), an implementation independent
of ours, of `pattern(n)` for the lengths below. Run from this directory: python3 hashlib_vectors.py
"""
import hashlib

# Lengths around every padding boundary of the first blocks, then larger and uneven ones.
LENGTHS = list(range(0, 200)) + [255, 256, 511, 512, 1000, 4095, 4096, 4097, 65535, 65536,
                                 65537, 1 << 20, (1 << 20) + 7, 3 * (1 << 20) + 13]


def pattern(n):
    """Bytes that are not periodic on 64: byte i is (i * 2654435761 >> 13) mod 256."""
    return bytes((i * 2654435761 >> 13) & 0xFF for i in range(n))


if __name__ == "__main__":
    with open("hashlib.txt", "w") as out:
        out.write("# length md5(pattern(length)), from hashlib_vectors.py\n")
        for n in LENGTHS:
            out.write(f"{n} {hashlib.md5(pattern(n)).hexdigest()}\n")
