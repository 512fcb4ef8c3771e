package compose

// X25519 (RFC 7748) after TweetNaCl's crypto_scalarmult: sixteen 16-bit limbs in
// int64s, a Montgomery ladder with constant-time swaps, no table lookups. It is
// here, and not golang.org/x/crypto/curve25519, because that package wraps
// crypto/ecdh, which would link crypto/rand, fmt, time and math/big into the
// decryptor (hundreds of kilobytes). Speed does not matter: a reply needs two
// scalar multiplications. TestX25519 checks it against RFC 7748 and x/crypto.

type fieldElem [16]int64

var c121665 = fieldElem{0xDB41, 1}

func carry(o *fieldElem) {
	for i := 0; i < 16; i++ {
		o[i] += 1 << 16
		c := o[i] >> 16
		if i < 15 {
			o[i+1] += c - 1
		} else {
			o[0] += 38 * (c - 1)
		}
		o[i] -= c << 16
	}
}

// swap exchanges p and q when b is 1, in constant time.
func swap(p, q *fieldElem, b int64) {
	c := ^(b - 1)
	for i := 0; i < 16; i++ {
		t := c & (p[i] ^ q[i])
		p[i] ^= t
		q[i] ^= t
	}
}

func pack(o *[32]byte, n *fieldElem) {
	t := *n
	carry(&t)
	carry(&t)
	carry(&t)
	var m fieldElem
	for j := 0; j < 2; j++ {
		m[0] = t[0] - 0xffed
		for i := 1; i < 15; i++ {
			m[i] = t[i] - 0xffff - ((m[i-1] >> 16) & 1)
			m[i-1] &= 0xffff
		}
		m[15] = t[15] - 0x7fff - ((m[14] >> 16) & 1)
		b := (m[15] >> 16) & 1
		m[14] &= 0xffff
		swap(&t, &m, 1-b)
	}
	for i := 0; i < 16; i++ {
		o[2*i] = byte(t[i])
		o[2*i+1] = byte(t[i] >> 8)
	}
}

func unpack(o *fieldElem, n *[32]byte) {
	for i := 0; i < 16; i++ {
		o[i] = int64(n[2*i]) + int64(n[2*i+1])<<8
	}
	o[15] &= 0x7fff
}

func add(o, a, b *fieldElem) {
	for i := 0; i < 16; i++ {
		o[i] = a[i] + b[i]
	}
}

func sub(o, a, b *fieldElem) {
	for i := 0; i < 16; i++ {
		o[i] = a[i] - b[i]
	}
}

func mul(o, a, b *fieldElem) {
	var t [31]int64
	for i := 0; i < 16; i++ {
		for j := 0; j < 16; j++ {
			t[i+j] += a[i] * b[j]
		}
	}
	for i := 0; i < 15; i++ {
		t[i] += 38 * t[i+16]
	}
	copy(o[:], t[:16])
	carry(o)
	carry(o)
}

func square(o, a *fieldElem) { mul(o, a, a) }

func invert(o, i *fieldElem) {
	c := *i
	for a := 253; a >= 0; a-- {
		square(&c, &c)
		if a != 2 && a != 4 {
			mul(&c, &c, i)
		}
	}
	*o = c
}

// x25519 returns scalar·point on Curve25519 (the u coordinate).
func x25519(scalar, point *[32]byte) [32]byte {
	z := *scalar
	z[31] = (z[31] & 127) | 64
	z[0] &= 248
	var x, a, b, c, d, e, f fieldElem
	unpack(&x, point)
	b = x
	a[0], d[0] = 1, 1
	for i := 254; i >= 0; i-- {
		r := int64((z[i>>3] >> (i & 7)) & 1)
		swap(&a, &b, r)
		swap(&c, &d, r)
		add(&e, &a, &c)
		sub(&a, &a, &c)
		add(&c, &b, &d)
		sub(&b, &b, &d)
		square(&d, &e)
		square(&f, &a)
		mul(&a, &c, &a)
		mul(&c, &b, &e)
		add(&e, &a, &c)
		sub(&a, &a, &c)
		square(&b, &a)
		sub(&c, &d, &f)
		mul(&a, &c, &c121665)
		add(&a, &a, &d)
		mul(&c, &c, &a)
		mul(&a, &d, &f)
		mul(&d, &b, &x)
		square(&b, &e)
		swap(&a, &b, r)
		swap(&c, &d, r)
	}
	invert(&c, &c)
	mul(&a, &a, &c)
	var out [32]byte
	pack(&out, &a)
	return out
}

var basePoint = [32]byte{9}
