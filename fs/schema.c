/*
 * schema.c — how a filesystem is laid out in the store: keys and records.
 *
 * Format version 1 (FS_FORMAT_VERSION; bump on any change).  All integers
 * inside keys are unsigned 64-bit big-endian, so that memcmp order is
 * numeric order and each inode's entries, chunks and xattrs are one
 * contiguous key range.
 *
 *   key                               value
 *   "S"                               superblock: CBOR map
 *                                       0: "lsmfs"  (text, magic)
 *                                       1: version  (uint)
 *                                       2: uuid     (bytes, 16)
 *                                       3: chunk size in bytes (uint)
 *                                       4: next inode number (uint): every
 *                                          number below it may be in use
 *   "I" ino:u64                       inode: CBOR map with uint keys
 *                                       0 mode  1 uid  2 gid  3 size
 *                                       4 nlink 5/6 atime sec/nsec
 *                                       7/8 mtime sec/nsec 9/10 ctime
 *                                       sec/nsec (sec may be negative)
 *                                       11 rdev 12 generation
 *                                       13 symlink target (bytes)
 *                                       14 parent directory (dirs)
 *                                       15 bytes stored in chunk values
 *                                     keys 0 and 4 are required, the rest
 *                                     default to 0 / empty; keys appear in
 *                                     ascending order, at most once
 *   "D" parent:u64 name               directory entry: CBOR [ino, type]
 *                                     (type = DT_* of the child)
 *   "C" ino:u64 index:u64             data bytes [index*chunk, +len) with
 *                                     len <= chunk size; bytes past len
 *                                     and missing chunks read as zeros;
 *                                     index*chunk + len <= file size
 *   "X" ino:u64 name                  extended attribute value, raw bytes
 *   "O" ino:u64                       orphan: empty value; the inode's
 *                                     nlink reached 0 while it was in use
 *
 * Records are decoded with cbor_stream_decode one item at a time (no
 * allocation); anything unexpected (wrong types, unknown or repeated map
 * keys, indefinite lengths, trailing bytes) is EIO.
 */
#include <errno.h>
#include <string.h>

#include <cbor.h>

#include "fs.h"

#define SUPER_MAGIC "lsmfs"

/* ---------------------------------------------------------------------
 * Keys
 */
void fs_put_u64be(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

uint64_t fs_get_u64be(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

size_t fs_key_super(uint8_t *k)
{
	k[0] = FS_K_SUPER;
	return 1;
}

size_t fs_key_prefix(uint8_t *k, uint8_t tag, uint64_t ino)
{
	k[0] = tag;
	fs_put_u64be(k + 1, ino);
	return 9;
}

size_t fs_key_inode(uint8_t *k, uint64_t ino)
{
	return fs_key_prefix(k, FS_K_INODE, ino);
}

size_t fs_key_orphan(uint8_t *k, uint64_t ino)
{
	return fs_key_prefix(k, FS_K_ORPHAN, ino);
}

size_t fs_key_dirent(uint8_t *k, uint64_t parent, const char *name, size_t nlen)
{
	fs_key_prefix(k, FS_K_DIRENT, parent);
	memcpy(k + 9, name, nlen);
	return 9 + nlen;
}

size_t fs_key_chunk(uint8_t *k, uint64_t ino, uint64_t idx)
{
	fs_key_prefix(k, FS_K_CHUNK, ino);
	fs_put_u64be(k + 9, idx);
	return 17;
}

size_t fs_key_xattr(uint8_t *k, uint64_t ino, const char *name, size_t nlen)
{
	fs_key_prefix(k, FS_K_XATTR, ino);
	memcpy(k + 9, name, nlen);
	return 9 + nlen;
}

int fs_errno(int rc)
{
	switch (rc) {
	case LSM_OK:
		return 0;
	case LSM_ENOSPC:
		return ENOSPC;
	case LSM_ENOMEM:
		return ENOMEM;
	case LSM_ENOTFOUND:
		return ENOENT;
	case LSM_EREADONLY:
		return EROFS;
	default:
		return EIO;
	}
}

/* ---------------------------------------------------------------------
 * Encoding: heads straight into the caller's buffer.
 */
struct enc {
	uint8_t *p;
	size_t len, cap;
	bool bad;
};

static void enc_head(struct enc *e, size_t n)
{
	if (!n)
		e->bad = true;
	e->len += n;
}

static void enc_uint(struct enc *e, uint64_t v)
{
	if (!e->bad)
		enc_head(e, cbor_encode_uint(v, e->p + e->len, e->cap - e->len));
}

static void enc_int(struct enc *e, int64_t v)
{
	if (e->bad)
		return;
	if (v >= 0)
		enc_head(e, cbor_encode_uint((uint64_t)v, e->p + e->len,
					     e->cap - e->len));
	else
		enc_head(e, cbor_encode_negint((uint64_t)(-1 - v), e->p + e->len,
					       e->cap - e->len));
}

static void enc_bytes(struct enc *e, const void *p, size_t n, bool text)
{
	if (e->bad)
		return;
	if (text)
		enc_head(e, cbor_encode_string_start(n, e->p + e->len,
						     e->cap - e->len));
	else
		enc_head(e, cbor_encode_bytestring_start(n, e->p + e->len,
							 e->cap - e->len));
	if (e->bad || e->cap - e->len < n) {
		e->bad = true;
		return;
	}
	memcpy(e->p + e->len, p, n);
	e->len += n;
}

static void enc_map(struct enc *e, size_t n)
{
	if (!e->bad)
		enc_head(e, cbor_encode_map_start(n, e->p + e->len, e->cap - e->len));
}

static void enc_array(struct enc *e, size_t n)
{
	if (!e->bad)
		enc_head(e, cbor_encode_array_start(n, e->p + e->len,
						    e->cap - e->len));
}

static size_t enc_done(struct enc *e)
{
	return e->bad ? 0 : e->len;
}

size_t fs_super_encode(const struct fs_super_rec *s, uint8_t *buf, size_t cap)
{
	struct enc e = {buf, 0, cap, false};

	enc_map(&e, 5);
	enc_uint(&e, 0);
	enc_bytes(&e, SUPER_MAGIC, strlen(SUPER_MAGIC), true);
	enc_uint(&e, 1);
	enc_uint(&e, s->version);
	enc_uint(&e, 2);
	enc_bytes(&e, s->uuid, sizeof(s->uuid), false);
	enc_uint(&e, 3);
	enc_uint(&e, s->chunk_size);
	enc_uint(&e, 4);
	enc_uint(&e, s->next_ino);
	return enc_done(&e);
}

size_t fs_inode_encode(const struct fs_attr *a, const char *target,
		       size_t target_len, uint8_t *buf, size_t cap)
{
	struct enc e = {buf, 0, cap, false};
	size_t n = 13;

	if (target_len)
		n++;
	if (a->parent)
		n++;
	if (a->stored)
		n++;
	enc_map(&e, n);
	enc_uint(&e, 0);
	enc_uint(&e, a->mode);
	enc_uint(&e, 1);
	enc_uint(&e, a->uid);
	enc_uint(&e, 2);
	enc_uint(&e, a->gid);
	enc_uint(&e, 3);
	enc_uint(&e, a->size);
	enc_uint(&e, 4);
	enc_uint(&e, a->nlink);
	enc_uint(&e, 5);
	enc_int(&e, a->atime);
	enc_uint(&e, 6);
	enc_uint(&e, a->atime_ns);
	enc_uint(&e, 7);
	enc_int(&e, a->mtime);
	enc_uint(&e, 8);
	enc_uint(&e, a->mtime_ns);
	enc_uint(&e, 9);
	enc_int(&e, a->ctime);
	enc_uint(&e, 10);
	enc_uint(&e, a->ctime_ns);
	enc_uint(&e, 11);
	enc_uint(&e, a->rdev);
	enc_uint(&e, 12);
	enc_uint(&e, a->gen);
	if (target_len) {
		enc_uint(&e, 13);
		enc_bytes(&e, target, target_len, false);
	}
	if (a->parent) {
		enc_uint(&e, 14);
		enc_uint(&e, a->parent);
	}
	if (a->stored) {
		enc_uint(&e, 15);
		enc_uint(&e, a->stored);
	}
	return enc_done(&e);
}

size_t fs_dirent_encode(uint64_t ino, uint32_t type, uint8_t *buf, size_t cap)
{
	struct enc e = {buf, 0, cap, false};

	enc_array(&e, 2);
	enc_uint(&e, ino);
	enc_uint(&e, type);
	return enc_done(&e);
}

/* ---------------------------------------------------------------------
 * Decoding: one item at a time into a token.
 */
enum tok_type { TOK_NONE, TOK_UINT, TOK_NEGINT, TOK_BYTES, TOK_TEXT,
		TOK_ARRAY, TOK_MAP, TOK_OTHER };

struct tok {
	enum tok_type type;
	uint64_t u;         /* TOK_UINT value, TOK_NEGINT n of -1-n, counts */
	const uint8_t *p;   /* TOK_BYTES/TOK_TEXT, borrowed */
	size_t n;
};

static void cb_u8(void *c, uint8_t v) { *(struct tok *)c = (struct tok){TOK_UINT, v, NULL, 0}; }
static void cb_u16(void *c, uint16_t v) { *(struct tok *)c = (struct tok){TOK_UINT, v, NULL, 0}; }
static void cb_u32(void *c, uint32_t v) { *(struct tok *)c = (struct tok){TOK_UINT, v, NULL, 0}; }
static void cb_u64(void *c, uint64_t v) { *(struct tok *)c = (struct tok){TOK_UINT, v, NULL, 0}; }
static void cb_n8(void *c, uint8_t v) { *(struct tok *)c = (struct tok){TOK_NEGINT, v, NULL, 0}; }
static void cb_n16(void *c, uint16_t v) { *(struct tok *)c = (struct tok){TOK_NEGINT, v, NULL, 0}; }
static void cb_n32(void *c, uint32_t v) { *(struct tok *)c = (struct tok){TOK_NEGINT, v, NULL, 0}; }
static void cb_n64(void *c, uint64_t v) { *(struct tok *)c = (struct tok){TOK_NEGINT, v, NULL, 0}; }
static void cb_bytes(void *c, cbor_data p, size_t n) { *(struct tok *)c = (struct tok){TOK_BYTES, 0, p, n}; }
static void cb_text(void *c, cbor_data p, size_t n) { *(struct tok *)c = (struct tok){TOK_TEXT, 0, p, n}; }
static void cb_array(void *c, size_t n) { *(struct tok *)c = (struct tok){TOK_ARRAY, n, NULL, 0}; }
static void cb_map(void *c, size_t n) { *(struct tok *)c = (struct tok){TOK_MAP, n, NULL, 0}; }
static void cb_other(void *c) { ((struct tok *)c)->type = TOK_OTHER; }
static void cb_other_u64(void *c, uint64_t v) { (void)v; ((struct tok *)c)->type = TOK_OTHER; }
static void cb_other_f(void *c, float v) { (void)v; ((struct tok *)c)->type = TOK_OTHER; }
static void cb_other_d(void *c, double v) { (void)v; ((struct tok *)c)->type = TOK_OTHER; }
static void cb_other_b(void *c, bool v) { (void)v; ((struct tok *)c)->type = TOK_OTHER; }

/* libcbor 0.8: byte_string/string are the definite strings, the *_start
 * callbacks the indefinite ones (its header comments are swapped). */
static const struct cbor_callbacks tok_callbacks = {
	.uint8 = cb_u8, .uint16 = cb_u16, .uint32 = cb_u32, .uint64 = cb_u64,
	.negint8 = cb_n8, .negint16 = cb_n16, .negint32 = cb_n32,
	.negint64 = cb_n64,
	.byte_string = cb_bytes, .byte_string_start = cb_other,
	.string = cb_text, .string_start = cb_other,
	.array_start = cb_array, .indef_array_start = cb_other,
	.map_start = cb_map, .indef_map_start = cb_other,
	.tag = cb_other_u64,
	.float2 = cb_other_f, .float4 = cb_other_f, .float8 = cb_other_d,
	.undefined = cb_other, .null = cb_other, .boolean = cb_other_b,
	.indef_break = cb_other,
};

struct dec {
	const uint8_t *p, *end;
};

/* Reads the next item head into t; EIO when truncated or malformed. */
static int dec_next(struct dec *d, struct tok *t)
{
	struct cbor_decoder_result r;

	t->type = TOK_NONE;
	if (d->p >= d->end)
		return EIO;
	r = cbor_stream_decode(d->p, (size_t)(d->end - d->p), &tok_callbacks, t);
	if (r.status != CBOR_DECODER_FINISHED || r.read == 0 ||
	    r.read > (size_t)(d->end - d->p) || t->type == TOK_NONE ||
	    t->type == TOK_OTHER)
		return EIO;
	d->p += r.read;
	return 0;
}

static int dec_uint(struct dec *d, uint64_t max, uint64_t *v)
{
	struct tok t;

	if (dec_next(d, &t) || t.type != TOK_UINT || t.u > max)
		return EIO;
	*v = t.u;
	return 0;
}

static int dec_int(struct dec *d, int64_t *v)
{
	struct tok t;

	if (dec_next(d, &t))
		return EIO;
	if (t.type == TOK_UINT && t.u <= INT64_MAX)
		*v = (int64_t)t.u;
	else if (t.type == TOK_NEGINT && t.u <= INT64_MAX)
		*v = -1 - (int64_t)t.u;
	else
		return EIO;
	return 0;
}

int fs_super_decode(const void *buf, size_t n, struct fs_super_rec *s)
{
	struct dec d = {buf, (const uint8_t *)buf + n};
	struct tok t;
	uint64_t k, v, seen = 0;

	memset(s, 0, sizeof(*s));
	if (dec_next(&d, &t) || t.type != TOK_MAP || t.u > 16)
		return EIO;
	for (uint64_t i = t.u; i > 0; i--) {
		if (dec_uint(&d, 63, &k) || (seen >> k & 1))
			return EIO;
		seen |= 1ull << k;
		switch (k) {
		case 0:
			if (dec_next(&d, &t) || t.type != TOK_TEXT ||
			    t.n != strlen(SUPER_MAGIC) ||
			    memcmp(t.p, SUPER_MAGIC, t.n))
				return EIO;
			break;
		case 1:
			if (dec_uint(&d, UINT32_MAX, &v))
				return EIO;
			s->version = (uint32_t)v;
			break;
		case 2:
			if (dec_next(&d, &t) || t.type != TOK_BYTES ||
			    t.n != sizeof(s->uuid))
				return EIO;
			memcpy(s->uuid, t.p, t.n);
			break;
		case 3:
			if (dec_uint(&d, FS_CHUNK_MAX, &v))
				return EIO;
			s->chunk_size = (uint32_t)v;
			break;
		case 4:
			if (dec_uint(&d, UINT64_MAX, &s->next_ino))
				return EIO;
			break;
		default:
			/* A newer format may add fields: judged by version. */
			if (dec_next(&d, &t) || t.type == TOK_ARRAY ||
			    t.type == TOK_MAP)
				return EIO;
			break;
		}
	}
	if (d.p != d.end || !(seen & 1) || !(seen & 2))
		return EIO;
	if (s->version > FS_FORMAT_VERSION)
		return EPROTONOSUPPORT;
	if (s->version < 1 || (seen & 0x1c) != 0x1c ||
	    s->chunk_size < FS_CHUNK_MIN || s->next_ino <= FS_ROOT_INO)
		return EIO;
	return 0;
}

int fs_inode_decode(const void *buf, size_t n, struct fs_inode_rec *r)
{
	struct dec d = {buf, (const uint8_t *)buf + n};
	struct fs_attr *a = &r->a;
	struct tok t;
	uint64_t k, v;
	int64_t last = -1;
	uint32_t seen = 0;
	int rc = EIO;

	memset(r, 0, sizeof(*r));
	if (dec_next(&d, &t) || t.type != TOK_MAP || t.u < 2 || t.u > 16)
		return EIO;
	for (uint64_t i = t.u; i > 0; i--) {
		if (dec_uint(&d, 15, &k) || (int64_t)k <= last)
			return EIO;
		last = (int64_t)k;
		switch (k) {
		case 0: rc = dec_uint(&d, UINT32_MAX, &v); a->mode = (uint32_t)v; break;
		case 1: rc = dec_uint(&d, UINT32_MAX, &v); a->uid = (uint32_t)v; break;
		case 2: rc = dec_uint(&d, UINT32_MAX, &v); a->gid = (uint32_t)v; break;
		case 3: rc = dec_uint(&d, INT64_MAX, &a->size); break;
		case 4: rc = dec_uint(&d, UINT32_MAX, &v); a->nlink = (uint32_t)v; break;
		case 5: rc = dec_int(&d, &a->atime); break;
		case 6: rc = dec_uint(&d, 999999999, &v); a->atime_ns = (uint32_t)v; break;
		case 7: rc = dec_int(&d, &a->mtime); break;
		case 8: rc = dec_uint(&d, 999999999, &v); a->mtime_ns = (uint32_t)v; break;
		case 9: rc = dec_int(&d, &a->ctime); break;
		case 10: rc = dec_uint(&d, 999999999, &v); a->ctime_ns = (uint32_t)v; break;
		case 11: rc = dec_uint(&d, UINT64_MAX, &a->rdev); break;
		case 12: rc = dec_uint(&d, UINT64_MAX, &a->gen); break;
		case 13:
			rc = dec_next(&d, &t);
			if (!rc && (t.type != TOK_BYTES || t.n == 0 ||
				    t.n > FS_SYMLINK_MAX ||
				    memchr(t.p, 0, t.n)))
				rc = EIO;
			r->target = t.p;
			r->target_len = t.n;
			break;
		case 14: rc = dec_uint(&d, UINT64_MAX, &a->parent); break;
		case 15: rc = dec_uint(&d, UINT64_MAX, &a->stored); break;
		}
		if (rc)
			return EIO;
		seen |= 1u << k;
	}
	if (d.p != d.end)
		return EIO;
	/* mode (key 0) and nlink (key 4) are required. */
	if (!(seen & 1) || !(seen & (1u << 4)))
		return EIO;
	if (S_ISLNK(a->mode) != (r->target_len != 0))
		return EIO;
	return 0;
}

int fs_dirent_decode(const void *buf, size_t n, uint64_t *ino, uint32_t *type)
{
	struct dec d = {buf, (const uint8_t *)buf + n};
	struct tok t;
	uint64_t v;

	if (dec_next(&d, &t) || t.type != TOK_ARRAY || t.u != 2)
		return EIO;
	if (dec_uint(&d, UINT64_MAX, ino) || *ino == 0)
		return EIO;
	if (dec_uint(&d, 15, &v))
		return EIO;
	*type = (uint32_t)v;
	if (d.p != d.end)
		return EIO;
	return 0;
}
