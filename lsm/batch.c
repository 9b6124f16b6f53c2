/*
 * batch.c — write batches, and the CBOR payload of a WAL record.
 *
 * A batch holds its operations already encoded as the CBOR op items that
 * a WAL record carries (the record format is described byte by byte at
 * the top of wal.c), so that a group commit is a memcpy of each waiting
 * batch's bytes (a group of one batch is used as it is), and encoding a
 * record is three CBOR heads and a CRC: lsm_wal_encode_head builds the
 * frame's first bytes and the writer appends the ops from the batch in
 * place (lsm_wal_append2), so op bytes are not copied into a frame.
 * Encoding uses libcbor's low-level encoders, which write into memory we
 * give them and never allocate; a batch's buffer grows to its high-water
 * mark and is reused, so a steady stream of writes allocates nothing
 * here.
 *
 * Decoding pulls one item at a time out of cbor_stream_decode (which
 * does not allocate either) and feeds it to a small state machine that
 * accepts exactly the shape the encoder writes and nothing else:
 * definite lengths only, op codes 0 and 1, a value on every put and on
 * no delete, keys of 1..LSM_MAX_KEY bytes, values of at most
 * LSM_MAX_VALUE bytes, as many ops as the count says and not one byte
 * more.  Anything else is LSM_ECORRUPT.  (Integers written in a longer
 * form than needed are accepted: they are still the documented shape.)
 */
#include <assert.h>
#include <stdlib.h>

#include <cbor/callbacks.h>
#include <cbor/encoding.h>
#include <cbor/streaming.h>

#include "lsm_int.h"

/* Longest CBOR head: the initial byte and an 8-byte argument. */
#define HEAD_MAX 9
/* A record's head before its ops: array(2), uint seq, array(count),
 * count being at most UINT32_MAX (5 bytes). */
#define RECORD_HEAD_MAX (1 + HEAD_MAX + 5)
/* The most op bytes one record may hold. */
#define OPS_MAX (LSM_WAL_MAX_PAYLOAD - RECORD_HEAD_MAX)

/* ---- batches ----------------------------------------------------------- */

int lsm_batch_create(lsm_batch **out)
{
	lsm_batch *b;

	*out = NULL;
	if (!(b = calloc(1, sizeof(*b))))
		return LSM_ERR(LSM_ENOMEM, "out of memory (batch)");
	*out = b;
	return LSM_OK;
}

void lsm_batch_destroy(lsm_batch *b)
{
	if (!b)
		return;
	lsm_buf_free(&b->ops);
	free(b);
}

void lsm_batch_clear(lsm_batch *b)
{
	lsm_buf_clear(&b->ops);
	b->count = 0;
	b->user_bytes = 0;
}

uint32_t lsm_batch_count(const lsm_batch *b)
{
	return b->count;
}

/* Writes bstr head + bytes at p (room bytes free); returns bytes written. */
static size_t batch_put_bytes(uint8_t *p, size_t room, const void *src,
			      size_t n)
{
	size_t h = cbor_encode_bytestring_start(n, p, room);

	assert(h && room - h >= n);
	if (n)
		memcpy(p + h, src, n);
	return h + n;
}

/* Appends one op item to b: [1, key, val] for LSM_KIND_VAL, [0, key] for
 * LSM_KIND_DEL.  LSM_EINVAL for bad lengths or a batch grown too large
 * for one WAL record, LSM_ENOMEM; b is unchanged on error. */
static int batch_add(lsm_batch *b, int kind, const void *key, size_t klen,
		     const void *val, size_t vlen)
{
	bool put = kind == LSM_KIND_VAL;
	size_t room, n;
	uint8_t *p;
	int rc;

	if (!b || (klen && !key) || (vlen && !val))
		return LSM_ERR(LSM_EINVAL, "batch: NULL argument");
	if (klen == 0 || klen > LSM_MAX_KEY)
		return LSM_ERR(LSM_EINVAL, "batch: key length %zu not in 1..%d",
			       klen, LSM_MAX_KEY);
	if (vlen > LSM_MAX_VALUE)
		return LSM_ERR(LSM_EINVAL, "batch: value length %zu over %u",
			       vlen, LSM_MAX_VALUE);
	room = 2 + HEAD_MAX + klen + (put ? HEAD_MAX + vlen : 0);
	if (b->count == UINT32_MAX || b->ops.len + room > OPS_MAX)
		return LSM_ERR(LSM_EINVAL,
			       "batch: too large for one log record (%u ops, "
			       "%zu bytes)", b->count, b->ops.len);
	if ((rc = lsm_buf_reserve(&b->ops, room)))
		return rc;
	p = b->ops.data + b->ops.len;
	n = cbor_encode_array_start(put ? 3 : 2, p, room);
	n += cbor_encode_uint((uint64_t)kind, p + n, room - n);
	n += batch_put_bytes(p + n, room - n, key, klen);
	if (put)
		n += batch_put_bytes(p + n, room - n, val, vlen);
	b->ops.len += n;
	b->count++;
	b->user_bytes += klen + vlen;
	return LSM_OK;
}

int lsm_batch_put(lsm_batch *b, const void *key, size_t klen,
		  const void *val, size_t vlen)
{
	return batch_add(b, LSM_KIND_VAL, key, klen, val, vlen);
}

int lsm_batch_delete(lsm_batch *b, const void *key, size_t klen)
{
	return batch_add(b, LSM_KIND_DEL, key, klen, NULL, 0);
}

/* Group commit: LSM_EINVAL (dst unchanged) if the sum would not fit in
 * one WAL record, so the caller stops merging there; LSM_ENOMEM. */
int lsm_batch_append(struct lsm_batch *dst, const struct lsm_batch *src)
{
	int rc;

	if (src->count > UINT32_MAX - dst->count ||
	    src->ops.len > OPS_MAX - dst->ops.len)
		return LSM_ERR(LSM_EINVAL,
			       "batch: group of %u + %u ops too large for one "
			       "log record", dst->count, src->count);
	if ((rc = lsm_buf_append(&dst->ops, src->ops.data, src->ops.len)))
		return rc;
	dst->count += src->count;
	dst->user_bytes += src->user_bytes;
	return LSM_OK;
}

/* ---- the record -------------------------------------------------------- */

/* out := len:u32le crc:u32le [seq, [ops...]].  The ops get sequence
 * numbers seq, seq+1, ..., so the last one must not pass LSM_SEQ_MAX. */
_Static_assert(LSM_FRAME_HDR + RECORD_HEAD_MAX <= LSM_WAL_HEAD_MAX,
	       "LSM_WAL_HEAD_MAX too small");

/* The frame for (seq, b) is head[0..*n) followed by b->ops as they are:
 * the CRC covers the CBOR head and then the ops in place, so the ops are
 * never copied to build a frame (1 MiB batches of the filesystem). */
int lsm_wal_encode_head(uint8_t *head, size_t *n, uint64_t seq,
			const struct lsm_batch *b)
{
	uint8_t *p = head + LSM_FRAME_HDR;
	size_t room = RECORD_HEAD_MAX, k;
	uint32_t crc;

	*n = 0;
	if (b->ops.len > OPS_MAX)
		return LSM_ERR(LSM_EINVAL, "WAL record: %zu op bytes too many",
			       b->ops.len);
	if (seq > LSM_SEQ_MAX ||
	    (b->count && LSM_SEQ_MAX - seq < (uint64_t)b->count - 1))
		return LSM_ERR(LSM_EINVAL, "WAL record: sequence %llu + %u ops "
			       "out of range", (unsigned long long)seq, b->count);
	k = cbor_encode_array_start(2, p, room);
	k += cbor_encode_uint(seq, p + k, room - k);
	k += cbor_encode_array_start(b->count, p + k, room - k);
	assert(k);
	crc = lsm_crc32c(0, p, k);
	if (b->ops.len)
		crc = lsm_crc32c(crc, b->ops.data, b->ops.len);
	lsm_put_u32le(head, (uint32_t)(k + b->ops.len));
	lsm_put_u32le(head + 4, crc);
	*n = LSM_FRAME_HDR + k;
	return LSM_OK;
}

int lsm_wal_encode(struct lsm_buf *out, uint64_t seq, const struct lsm_batch *b)
{
	uint8_t head[LSM_WAL_HEAD_MAX];
	size_t n;
	int rc;

	lsm_buf_clear(out);
	if ((rc = lsm_wal_encode_head(head, &n, seq, b)))
		return rc;
	if ((rc = lsm_buf_reserve(out, n + b->ops.len)))
		return rc;
	memcpy(out->data, head, n);
	if (b->ops.len)
		memcpy(out->data + n, b->ops.data, b->ops.len);
	out->len = n + b->ops.len;
	return LSM_OK;
}

/* ---- decoding ------------------------------------------------------------
 * cbor_stream_decode parses one item head (with a byte string's bytes)
 * and calls one callback; ours record the item in a struct item.  The
 * shapes we never write (negative ints, text, maps, tags, floats, simple
 * values, anything indefinite) get libcbor's do-nothing callbacks, which
 * leave the item IT_BAD.  (libcbor 0.8: .byte_string and .array_start
 * are the definite forms, despite the comments in its callbacks.h.)
 */
enum item_type { IT_BAD, IT_UINT, IT_ARRAY, IT_BYTES };

struct item {
	enum item_type type;
	uint64_t u;         /* IT_UINT value, IT_ARRAY length */
	const uint8_t *p;   /* IT_BYTES, borrowed from the input */
	size_t n;
};

static void item_uint(void *ctx, uint64_t v)
{
	struct item *it = ctx;

	it->type = IT_UINT;
	it->u = v;
}
static void item_uint8(void *ctx, uint8_t v) { item_uint(ctx, v); }
static void item_uint16(void *ctx, uint16_t v) { item_uint(ctx, v); }
static void item_uint32(void *ctx, uint32_t v) { item_uint(ctx, v); }

static void item_array(void *ctx, size_t n)
{
	struct item *it = ctx;

	it->type = IT_ARRAY;
	it->u = n;
}

static void item_bytes(void *ctx, cbor_data p, size_t n)
{
	struct item *it = ctx;

	it->type = IT_BYTES;
	it->p = p;
	it->n = n;
}

static const struct cbor_callbacks item_callbacks = {
	.uint8 = item_uint8,
	.uint16 = item_uint16,
	.uint32 = item_uint32,
	.uint64 = item_uint,
	.negint8 = cbor_null_negint8_callback,
	.negint16 = cbor_null_negint16_callback,
	.negint32 = cbor_null_negint32_callback,
	.negint64 = cbor_null_negint64_callback,
	.byte_string = item_bytes,
	.byte_string_start = cbor_null_byte_string_start_callback,
	.string = cbor_null_string_callback,
	.string_start = cbor_null_string_start_callback,
	.array_start = item_array,
	.indef_array_start = cbor_null_indef_array_start_callback,
	.map_start = cbor_null_map_start_callback,
	.indef_map_start = cbor_null_indef_map_start_callback,
	.tag = cbor_null_tag_callback,
	.float2 = cbor_null_float2_callback,
	.float4 = cbor_null_float4_callback,
	.float8 = cbor_null_float8_callback,
	.undefined = cbor_null_undefined_callback,
	.null = cbor_null_null_callback,
	.boolean = cbor_null_boolean_callback,
	.indef_break = cbor_null_indef_break_callback,
};

/* The state machine: which item comes next. */
enum dec_state {
	D_RECORD, /* array(2) */
	D_SEQ,    /* uint seq */
	D_OPS,    /* array(count) */
	D_OP,     /* array(2) or array(3): an op, or the end when all came */
	D_CODE,   /* uint 0 or 1, agreeing with the op's length */
	D_KEY,    /* bstr key */
	D_VALUE,  /* bstr value (puts only) */
};

struct dec {
	enum dec_state state;
	uint64_t seq;
	uint64_t count;       /* ops the list holds */
	uint64_t done;        /* ops decoded so far */
	const uint8_t *ops;   /* first byte after the ops array head */
	uint64_t oplen;       /* items of the current op */
	int kind;
	const uint8_t *key, *val;
	size_t klen, vlen;
	bool op_ready;        /* an op is complete: hand it out */
};

/* Feeds one item to the machine; next is the byte after it.  Returns
 * NULL, or why the item is not what the state allows. */
static const char *dec_step(struct dec *d, const struct item *it,
			    const uint8_t *next)
{
	switch (d->state) {
	case D_RECORD:
		if (it->type != IT_ARRAY || it->u != 2)
			return "record is not a definite 2-item array";
		d->state = D_SEQ;
		return NULL;
	case D_SEQ:
		if (it->type != IT_UINT || it->u > LSM_SEQ_MAX)
			return "sequence is not an unsigned integer in range";
		d->seq = it->u;
		d->state = D_OPS;
		return NULL;
	case D_OPS:
		if (it->type != IT_ARRAY || it->u > UINT32_MAX)
			return "op list is not a definite array";
		if (it->u && LSM_SEQ_MAX - d->seq < it->u - 1)
			return "sequence numbers of the ops out of range";
		d->count = it->u;
		d->ops = next;
		d->state = D_OP;
		return NULL;
	case D_OP:
		if (it->type != IT_ARRAY || (it->u != 2 && it->u != 3))
			return "op is not a definite 2- or 3-item array";
		d->oplen = it->u;
		d->state = D_CODE;
		return NULL;
	case D_CODE:
		if (it->type != IT_UINT || it->u > 1)
			return "op code is not 0 or 1";
		d->kind = (int)it->u;
		if (d->kind == LSM_KIND_VAL && d->oplen != 3)
			return "put without a value";
		if (d->kind == LSM_KIND_DEL && d->oplen != 2)
			return "delete with a value";
		d->state = D_KEY;
		return NULL;
	case D_KEY:
		if (it->type != IT_BYTES)
			return "key is not a definite byte string";
		if (it->n == 0 || it->n > LSM_MAX_KEY)
			return "key length not in 1..LSM_MAX_KEY";
		d->key = it->p;
		d->klen = it->n;
		d->val = NULL;
		d->vlen = 0;
		d->state = d->kind == LSM_KIND_VAL ? D_VALUE : D_OP;
		d->op_ready = d->kind == LSM_KIND_DEL;
		return NULL;
	case D_VALUE:
		if (it->type != IT_BYTES)
			return "value is not a definite byte string";
		if (it->n > LSM_MAX_VALUE)
			return "value longer than LSM_MAX_VALUE";
		d->val = it->p;
		d->vlen = it->n;
		d->state = D_OP;
		d->op_ready = true;
		return NULL;
	}
	return "bad decoder state";
}

/* Runs the machine over buf[0..len), calling fn (if non-NULL) for each
 * op.  The input must end exactly after the count-th op.  Returns LSM_OK,
 * LSM_ECORRUPT, or fn's first non-zero return. */
static int dec_run(struct dec *d, const uint8_t *buf, size_t len,
		   lsm_batch_fn fn, void *ctx)
{
	const char *why = NULL;
	size_t off = 0;
	int rc;

	while (off < len) {
		struct item it = { .type = IT_BAD };
		struct cbor_decoder_result r;

		if (d->state == D_OP && d->done == d->count) {
			why = "trailing bytes after the last op";
			goto corrupt;
		}
		r = cbor_stream_decode(buf + off, len - off, &item_callbacks,
				       &it);
		if (r.status != CBOR_DECODER_FINISHED) {
			why = r.status == CBOR_DECODER_NEDATA
				      ? "item cut short"
				      : "malformed CBOR";
			goto corrupt;
		}
		if ((why = dec_step(d, &it, buf + off + r.read)))
			goto corrupt;
		off += r.read;
		if (d->op_ready) {
			d->op_ready = false;
			d->done++;
			if (fn && (rc = fn(ctx, d->kind, d->key, d->klen,
					   d->val, d->vlen)))
				return rc;
		}
	}
	if (d->state == D_OP && d->done == d->count)
		return LSM_OK;
	why = d->state == D_OP ? "fewer ops than the count says"
			       : "ends before the record is complete";
corrupt:
	return LSM_ERR(LSM_ECORRUPT, "WAL payload: %s (at byte %zu of %zu)",
		       why, off, len);
}

int lsm_batch_foreach(const uint8_t *ops, size_t len, uint32_t count,
		      lsm_batch_fn fn, void *ctx)
{
	struct dec d = { .state = D_OP, .count = count, .ops = ops };

	return dec_run(&d, ops, len, fn, ctx);
}

/* ---- the trusted walk ----------------------------------------------------
 * Ops that this process encoded (a batch being committed) or that
 * lsm_wal_decode has checked (replay) need no second check: the walk
 * below reads the heads directly, without libcbor's callbacks.  Any
 * argument length is taken, since a checked record may use a longer form
 * than the encoder's. */

/* The argument of the CBOR head at *p; advances *p past the head. */
static inline uint64_t head_arg(const uint8_t **p)
{
	const uint8_t *q = *p;
	unsigned ai = q[0] & 0x1f;
	uint64_t v;

	if (ai < 24) {
		*p = q + 1;
		return ai;
	}
	switch (ai) {
	case 24:
		v = q[1];
		*p = q + 2;
		break;
	case 25:
		v = (uint64_t)q[1] << 8 | q[2];
		*p = q + 3;
		break;
	case 26:
		v = (uint64_t)q[1] << 24 | (uint64_t)q[2] << 16 |
		    (uint64_t)q[3] << 8 | q[4];
		*p = q + 5;
		break;
	default: /* 27 */
		v = 0;
		for (int i = 1; i <= 8; i++)
			v = v << 8 | q[i];
		*p = q + 9;
		break;
	}
	return v;
}

int lsm_batch_walk(const uint8_t *ops, size_t len, lsm_batch_fn fn,
		   void *ctx)
{
	const uint8_t *p = ops, *end = ops + len;
	int rc;

	while (p < end) {
		uint64_t items = head_arg(&p);
		int kind = (int)head_arg(&p);
		size_t klen = (size_t)head_arg(&p), vlen = 0;
		const uint8_t *key = p, *val = NULL;

		p += klen;
		if (items == 3) {
			vlen = (size_t)head_arg(&p);
			val = p;
			p += vlen;
		}
		assert(p <= end);
		if ((rc = fn(ctx, kind, key, klen, val, vlen)))
			return rc;
	}
	return LSM_OK;
}

/* Checks the whole payload, ops included, so that replay never hands a
 * half-good record to its caller. */
int lsm_wal_decode(const uint8_t *payload, size_t len, uint64_t *seq,
		   const uint8_t **ops, size_t *opslen, uint32_t *count)
{
	struct dec d = { .state = D_RECORD };
	int rc;

	*seq = 0;
	*ops = NULL;
	*opslen = 0;
	*count = 0;
	if ((rc = dec_run(&d, payload, len, NULL, NULL)))
		return rc;
	*seq = d.seq;
	*ops = d.ops;
	*opslen = (size_t)(payload + len - d.ops);
	*count = (uint32_t)d.count;
	return LSM_OK;
}
