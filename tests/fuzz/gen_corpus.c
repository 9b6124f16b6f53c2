/*
 * gen_corpus.c — writes the seed corpora of the fuzz targets:
 *   gen_corpus OUTDIR   ->  OUTDIR/{wal,sst,manifest,fs_schema}/NAME
 * Built and run by gen-corpus.sh, which commits nothing by itself: the
 * files under tests/fuzz/corpus/ are its output, checked in.
 *
 * Every seed is made by the store's and the filesystem's own encoders
 * (batches and lsm_wal_encode, the SSTable builder, lsm_vset_apply,
 * fs_*_encode) into the in-memory env, so seeds follow the formats as
 * the code writes them.  The WAL, SSTable and manifest seeds start with
 * the targets' mode byte; each comes in a real-checksum version and a
 * fake-checksum version (written with fuzz_fake_crc set, see fuzz.h).
 * A few damaged seeds (cut, flipped, newer version) start the fuzzer on
 * the error paths.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "fs.h"
#include "fuzz.h"

static const char *outdir;
static size_t total_bytes;

static void must(int rc, const char *what)
{
	if (rc) {
		fprintf(stderr, "gen_corpus: %s: %s (%s)\n", what,
			lsm_strerror(rc), lsm_last_error());
		exit(1);
	}
}

/* Writes OUTDIR/target/name: mode byte (if mode >= 0), then p[n]. */
static void seed(const char *target, const char *name, int mode,
		 const void *p, size_t n)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", outdir, target);
	if (mkdir(path, 0755) && errno != EEXIST) {
		perror(path);
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/%s/%s", outdir, target, name);
	if (!(f = fopen(path, "wb"))) {
		perror(path);
		exit(1);
	}
	if (mode >= 0)
		fputc(mode, f);
	if (n && fwrite(p, 1, n, f) != n) {
		perror(path);
		exit(1);
	}
	if (fclose(f)) {
		perror(path);
		exit(1);
	}
	total_bytes += n + (mode >= 0);
}

/* ---- WAL ------------------------------------------------------------- */

static void wal_record(struct lsm_buf *log, uint64_t seq, int variant)
{
	struct lsm_buf frame = { 0 };
	lsm_batch *b;
	char key[32], val[300];

	must(lsm_batch_create(&b), "batch");
	memset(val, 'v', sizeof(val));
	switch (variant) {
	case 0: /* the essay's example: put("k", "v") */
		must(lsm_batch_put(b, "k", 1, "v", 1), "put");
		break;
	case 1:
		must(lsm_batch_delete(b, "gone", 4), "delete");
		break;
	case 2: /* a group commit: several ops, an empty value, a long one */
		for (int i = 0; i < 4; i++) {
			int n = snprintf(key, sizeof(key), "key%02d", i);
			must(lsm_batch_put(b, key, (size_t)n, val,
					   i == 2 ? 0 : (size_t)(i * 90)),
			     "put");
		}
		must(lsm_batch_delete(b, "key01", 5), "delete");
		break;
	default: /* an empty batch */
		break;
	}
	must(lsm_wal_encode(&frame, seq, b), "encode");
	must(lsm_buf_append(log, frame.data, frame.len), "append");
	lsm_batch_destroy(b);
	lsm_buf_free(&frame);
}

static void gen_wal(void)
{
	struct lsm_buf log = { 0 };

	for (int fake = 0; fake <= 1; fake++) {
		const char *sfx = fake ? "fakecrc" : "crc";
		char name[64];
		size_t cut;

		fuzz_fake_crc = fake;
		/* Raw payloads (the frame header dropped): for lsm_wal_decode. */
		for (int v = 0; v < 3 && !fake; v++) {
			lsm_buf_clear(&log);
			wal_record(&log, 5 + (uint64_t)v, v);
			snprintf(name, sizeof(name), "payload-%d", v);
			seed("wal", name, 0, log.data + LSM_FRAME_HDR,
			     log.len - LSM_FRAME_HDR);
		}
		lsm_buf_clear(&log);
		wal_record(&log, 1, 0);
		snprintf(name, sizeof(name), "log-one-%s", sfx);
		seed("wal", name, fake, log.data, log.len);

		lsm_buf_clear(&log);
		wal_record(&log, 1, 0);
		wal_record(&log, 2, 1);
		wal_record(&log, 3, 2);
		wal_record(&log, 8, 3);
		wal_record(&log, 8, 0);
		snprintf(name, sizeof(name), "log-five-%s", sfx);
		seed("wal", name, fake, log.data, log.len);

		/* Damaged: a torn tail, a zero tail, a flipped middle byte. */
		cut = log.len - 5;
		snprintf(name, sizeof(name), "log-torn-%s", sfx);
		seed("wal", name, fake, log.data, cut);
		if (!fake) {
			uint8_t zeros[24] = { 0 };
			lsm_buf_append(&log, zeros, sizeof(zeros));
			seed("wal", "log-zerotail-crc", 0, log.data, log.len);
			log.data[20] ^= 0x10;
			seed("wal", "log-flipped-crc", 0, log.data, log.len);
		}
	}
	fuzz_fake_crc = false;
	lsm_buf_free(&log);
}

/* ---- SSTable ----------------------------------------------------------- */

/* Builds a table of n entries (every third user key in two versions,
 * every fifth entry a deletion) into the memory env; returns its bytes. */
static const uint8_t *sst_build(int n, size_t block_size, int restart,
				int bloom, size_t *size)
{
	struct lsm_sst_opts o = { block_size, restart, bloom };
	struct lsm_sst_builder *b;
	struct lsm_buf ik = { 0 };
	uint64_t fsize;
	int e = 0;

	fuzz_env_reset();
	must(lsm_sst_builder_create(fuzz_env(), "/g/000007.sst", &o, &b),
	     "builder");
	for (int i = 0; e < n; i++) {
		char key[16], val[64];
		int klen = snprintf(key, sizeof(key), "k%04d", i * 3);
		int vlen = snprintf(val, sizeof(val), "value-%d-%.*s", i,
				    i % 40, "0123456789012345678901234567890123456789");
		for (int ver = i % 3 == 0 ? 2 : 1; ver >= 1 && e < n; ver--) {
			int kind = e % 5 == 4 ? LSM_KIND_DEL : LSM_KIND_VAL;
			must(lsm_ikey_make(&ik, key, (size_t)klen,
					   100 + (uint64_t)(i * 2 + ver), kind),
			     "ikey");
			must(lsm_sst_builder_add(b, ik.data, ik.len,
						 (const uint8_t *)val,
						 kind == LSM_KIND_VAL
							 ? (size_t)vlen
							 : 0),
			     "add");
			e++;
		}
	}
	must(lsm_sst_builder_finish(b, &fsize), "finish");
	lsm_buf_free(&ik);
	return fuzz_env_get("/g/000007.sst", size);
}

static void gen_sst(void)
{
	static const struct {
		const char *name;
		int n;
		size_t block_size;
		int restart, bloom, mode;
	} t[] = {
		{ "empty", 0, 4096, 16, 10, 0 },
		{ "one", 1, 4096, 16, 10, 2 },
		{ "blocks", 40, 256, 4, 10, 4 },
		{ "nobloom-r1", 24, 200, 1, 0, 6 },
		{ "oneblock", 30, 4096, 16, 0, 0 },
	};

	for (int fake = 0; fake <= 1; fake++) {
		fuzz_fake_crc = fake;
		for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
			char name[64];
			size_t size;
			const uint8_t *p = sst_build(t[i].n, t[i].block_size,
						     t[i].restart, t[i].bloom,
						     &size);
			if (fake && t[i].n < 2)
				continue;
			snprintf(name, sizeof(name), "%s-%s", t[i].name,
				 fake ? "fakecrc" : "crc");
			seed("sst", name, t[i].mode | fake, p, size);
		}
	}
	/* Damaged: cut, a flipped data byte, a newer footer version. */
	{
		size_t size;
		const uint8_t *p;
		uint8_t *copy;

		fuzz_fake_crc = false;
		p = sst_build(40, 256, 4, 10, &size);
		if (!(copy = malloc(size)))
			abort();
		memcpy(copy, p, size);
		seed("sst", "cut-crc", 2, copy, size - 9);
		copy[30] ^= 0x04;
		seed("sst", "flipped-crc", 0, copy, size);
		copy[30] ^= 0x04;
		lsm_put_u32le(copy + size - 56 + 40, 2);
		lsm_put_u32le(copy + size - 4,
			      lsm_crc32c(0, copy + size - 56, 52));
		seed("sst", "version2-crc", 0, copy, size);
		free(copy);
	}
	fuzz_env_reset();
}

/* ---- manifest ---------------------------------------------------------- */

static const struct lsm_vset_opts vopts = {
	.level1_max_bytes = 10 << 20,
	.l0_compact_trigger = 4,
	.target_file_size = 2 << 20,
};

static void add_table(struct lsm_vset *vs, int level, const char *s,
		      const char *l, uint64_t seq)
{
	struct lsm_buf a = { 0 }, b = { 0 };
	struct lsm_fmeta *f;
	struct lsm_edit e;

	must(lsm_ikey_make(&a, s, strlen(s), seq, LSM_KIND_VAL), "ikey");
	must(lsm_ikey_make(&b, l, strlen(l), seq + 1, LSM_KIND_DEL), "ikey");
	f = lsm_fmeta_new(lsm_vset_new_file_num(vs), 1000 + seq, a.data,
			  a.len, b.data, b.len);
	if (!f)
		abort();
	lsm_edit_init(&e);
	must(lsm_edit_add(&e, level, f), "edit");
	e.has_log_num = true;
	e.log_num = lsm_vset_new_file_num(vs);
	lsm_vset_set_last_seq(vs, seq + 10);
	must(lsm_vset_apply(vs, &e), "apply");
	lsm_edit_free(&e);
	lsm_fmeta_unref(f);
	lsm_buf_free(&a);
	lsm_buf_free(&b);
}

/* The live manifest of the store in the memory env. */
static const uint8_t *manifest_bytes(struct lsm_vset *vs, size_t *size)
{
	char path[64];

	snprintf(path, sizeof(path), "/g/MANIFEST-%06llu",
		 (unsigned long long)lsm_vset_manifest_num(vs));
	return fuzz_env_get(path, size);
}

/* CBOR head of major type major and argument v, shortest form. */
static void cbor_head(struct lsm_buf *b, int major, uint64_t v)
{
	uint8_t h[9];
	int len = v < 24 ? 0 : v <= 0xff ? 1 : v <= 0xffff ? 2
		  : v <= 0xffffffffu ? 4 : 8;

	h[0] = (uint8_t)(major << 5 | (len == 0 ? v : len == 1 ? 24
				       : len == 2 ? 25 : len == 4 ? 26 : 27));
	for (int i = 0; i < len; i++)
		h[1 + i] = (uint8_t)(v >> (8 * (len - 1 - i)));
	must(lsm_buf_append(b, h, 1 + (size_t)len), "append");
}

/* A hand-made manifest with numbers of every width (8-byte heads near
 * the limits), so that the fuzzer starts from them. */
static void manifest_bignums(bool fake)
{
	struct lsm_buf p = { 0 }, f = { 0 }, ik = { 0 };
	uint8_t h[LSM_FRAME_HDR];

	cbor_head(&p, 4, 6);
	cbor_head(&p, 0, 0x6c736d6d);
	cbor_head(&p, 0, 1);
	cbor_head(&p, 0, LSM_SEQ_MAX - 20);  /* next_file_num */
	cbor_head(&p, 0, LSM_SEQ_MAX);       /* last_seq */
	cbor_head(&p, 0, UINT64_C(1) << 40); /* log_num */
	cbor_head(&p, 4, 2);
	for (int i = 0; i < 2; i++) {
		cbor_head(&p, 4, 5);
		cbor_head(&p, 0, (uint64_t)(i ? 1 : LSM_MAX_LEVELS - 1));
		cbor_head(&p, 0, (LSM_SEQ_MAX - 30) + (uint64_t)i);
		cbor_head(&p, 0, UINT64_MAX);
		must(lsm_ikey_make(&ik, i ? "k" : "a", 1, LSM_SEQ_MAX,
				   LSM_KIND_DEL), "ikey");
		cbor_head(&p, 2, ik.len);
		must(lsm_buf_append(&p, ik.data, ik.len), "append");
		must(lsm_ikey_make(&ik, i ? "z" : "b", 1, 0, LSM_KIND_VAL),
		     "ikey");
		cbor_head(&p, 2, ik.len);
		must(lsm_buf_append(&p, ik.data, ik.len), "append");
	}
	fuzz_fake_crc = fake;
	lsm_put_u32le(h, (uint32_t)p.len);
	lsm_put_u32le(h + 4, lsm_crc32c(0, p.data, p.len));
	must(lsm_buf_append(&f, h, sizeof(h)), "append");
	must(lsm_buf_append(&f, p.data, p.len), "append");
	seed("manifest", fake ? "bignums-fakecrc" : "bignums-crc", fake,
	     f.data, f.len);
	lsm_buf_free(&p);
	lsm_buf_free(&f);
	lsm_buf_free(&ik);
}

static void gen_manifest(void)
{
	for (int fake = 0; fake <= 1; fake++) {
		struct lsm_vset *vs;
		const uint8_t *p;
		size_t size;
		char name[64];

		fuzz_fake_crc = fake;
		fuzz_env_reset();
		must(lsm_vset_open(fuzz_env(), "/g", &vopts, true, &vs),
		     "vset");
		p = manifest_bytes(vs, &size);
		snprintf(name, sizeof(name), "empty-%s",
			 fake ? "fakecrc" : "crc");
		seed("manifest", name, fake, p, size);
		add_table(vs, 0, "apple", "melon", 10);
		add_table(vs, 0, "banana", "zebra", 20);
		add_table(vs, 1, "a", "f", 3);
		add_table(vs, 1, "g", "m", 4);
		add_table(vs, 2, "b", "y", 1);
		add_table(vs, 6, "0", "9", 2);
		p = manifest_bytes(vs, &size);
		snprintf(name, sizeof(name), "tables-%s",
			 fake ? "fakecrc" : "crc");
		seed("manifest", name, fake, p, size);
		if (!fake) {
			uint8_t *copy = malloc(size);
			if (!copy)
				abort();
			memcpy(copy, p, size);
			seed("manifest", "cut-crc", 0, copy, size - 7);
			copy[size / 2] ^= 0x01;
			seed("manifest", "flipped-crc", 0, copy, size);
			copy[size / 2] ^= 0x01;
			/* version 2: the byte after the 5-byte magic */
			copy[8 + 6] = 0x02;
			lsm_put_u32le(copy + 4,
				      lsm_crc32c(0, copy + 8, size - 8));
			seed("manifest", "version2-crc", 0, copy, size);
			free(copy);
		}
		lsm_vset_close(vs);
	}
	manifest_bignums(false);
	manifest_bignums(true);
	fuzz_fake_crc = false;
	fuzz_env_reset();
}

/* ---- filesystem records ------------------------------------------------ */

static void gen_fs(void)
{
	struct fs_super_rec s = { FS_FORMAT_VERSION,
				  { 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7,
				    8, 9, 10, 11, 12 },
				  FS_CHUNK_DEFAULT, 2048 };
	struct fs_attr a = { 0 };
	uint8_t buf[FS_INODE_REC_MAX];
	size_t n;

	n = fs_super_encode(&s, buf, sizeof(buf));
	seed("fs_schema", "super", -1, buf, n);
	s.version = FS_FORMAT_VERSION + 1;
	n = fs_super_encode(&s, buf, sizeof(buf));
	seed("fs_schema", "super-version2", -1, buf, n);

	a.mode = S_IFREG | 0644;
	a.uid = 1000;
	a.gid = 1000;
	a.nlink = 1;
	a.size = 123456;
	a.stored = 65536;
	a.atime = 1700000000;
	a.atime_ns = 123456789;
	a.mtime = -5;
	a.ctime = 1700000001;
	a.gen = 3;
	n = fs_inode_encode(&a, NULL, 0, buf, sizeof(buf));
	seed("fs_schema", "inode-reg", -1, buf, n);
	seed("fs_schema", "inode-reg-cut", -1, buf, n - 3);
	a.mode = S_IFDIR | 0755;
	a.nlink = 3;
	a.parent = 1;
	a.stored = 0;
	n = fs_inode_encode(&a, NULL, 0, buf, sizeof(buf));
	seed("fs_schema", "inode-dir", -1, buf, n);
	a.mode = S_IFLNK | 0777;
	a.parent = 0;
	n = fs_inode_encode(&a, "../some/target", 14, buf, sizeof(buf));
	seed("fs_schema", "inode-symlink", -1, buf, n);
	a.mode = S_IFCHR | 0600;
	a.rdev = 0x0103;
	n = fs_inode_encode(&a, NULL, 0, buf, sizeof(buf));
	seed("fs_schema", "inode-chr", -1, buf, n);
	/* the minimal record: {0: S_IFREG|0644, 4: 1} */
	seed("fs_schema", "inode-minimal", -1, "\xa2\x00\x19\x81\xa4\x04\x01",
	     7);

	n = fs_dirent_encode(42, 8, buf, sizeof(buf));
	seed("fs_schema", "dirent", -1, buf, n);
	n = fs_dirent_encode(UINT64_MAX, 4, buf, sizeof(buf));
	seed("fs_schema", "dirent-big", -1, buf, n);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: gen_corpus OUTDIR\n");
		return 2;
	}
	outdir = argv[1];
	if (mkdir(outdir, 0755) && errno != EEXIST) {
		perror(outdir);
		return 1;
	}
	gen_wal();
	gen_sst();
	gen_manifest();
	gen_fs();
	fuzz_env_reset();
	printf("gen_corpus: %zu bytes of seeds in %s\n", total_bytes, outdir);
	return 0;
}
