/* check_index.c - postings operations and matcher resolution */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsdb/index.h"

#define UNIVERSE 2000

/* Random sorted set over [0, UNIVERSE) with density 1/every; bitmap too. */
static void random_set(struct postings *p, unsigned char *bits, int every, unsigned *seed)
{
	postings_release(p);
	p->ids = malloc(UNIVERSE * sizeof(uint32_t));
	memset(bits, 0, UNIVERSE);
	for (uint32_t i = 0; i < UNIVERSE; i++) {
		if (rand_r(seed) % every == 0) {
			p->ids[p->n++] = i;
			bits[i] = 1;
		}
	}
	p->cap = UNIVERSE;
}

static void check_against(const struct postings *p, const unsigned char *want)
{
	size_t k = 0;

	for (uint32_t i = 0; i < UNIVERSE; i++) {
		if (!want[i])
			continue;
		ck_assert_uint_lt(k, p->n);
		ck_assert_uint_eq(p->ids[k], i);
		k++;
	}
	ck_assert_uint_eq(k, p->n);
}

START_TEST(test_index_postings_ops_brute_force)
{
	static const int dens[] = { 1, 2, 3, 7, 50, 400, 3000 };
	unsigned seed = 42;

	for (int round = 0; round < 60; round++) {
		struct postings a = POSTINGS_INIT, b = POSTINGS_INIT, out = POSTINGS_INIT;
		struct postings lists[5] = { POSTINGS_INIT, POSTINGS_INIT, POSTINGS_INIT,
					     POSTINGS_INIT, POSTINGS_INIT };
		unsigned char ba[UNIVERSE], bb[UNIVERSE], want[UNIVERSE], bl[5][UNIVERSE];
		int k = 1 + round % 5;

		random_set(&a, ba, dens[round % 7], &seed);
		random_set(&b, bb, dens[(round / 7) % 7], &seed);

		ck_assert_int_eq(postings_intersect(&a, &b, &out), 0);
		for (int i = 0; i < UNIVERSE; i++)
			want[i] = ba[i] && bb[i];
		check_against(&out, want);

		ck_assert_int_eq(postings_subtract(&a, &b, &out), 0);
		for (int i = 0; i < UNIVERSE; i++)
			want[i] = ba[i] && !bb[i];
		check_against(&out, want);

		memset(want, 0, sizeof(want));
		for (int j = 0; j < k; j++) {
			random_set(&lists[j], bl[j], dens[(round + j) % 7], &seed);
			for (int i = 0; i < UNIVERSE; i++)
				want[i] |= bl[j][i];
		}
		ck_assert_int_eq(postings_union(lists, (size_t)k, &out), 0);
		check_against(&out, want);

		for (int j = 0; j < 5; j++)
			postings_release(&lists[j]);
		postings_release(&a);
		postings_release(&b);
		postings_release(&out);
	}
}
END_TEST

START_TEST(test_index_union_many_lists)
{
	/* many single-id lists with large ids (exercises the radix path) */
	struct postings lists[300], out = POSTINGS_INIT;
	uint32_t ids[300];

	for (int i = 0; i < 300; i++) {
		ids[i] = (uint32_t)((i * 7919u) % 300u) * 100000u + 3u;
		lists[i].ids = &ids[i];
		lists[i].n = 1;
		lists[i].cap = 1;
	}
	ck_assert_int_eq(postings_union(lists, 300, &out), 0);
	ck_assert_uint_eq(out.n, 300);
	for (size_t i = 0; i < 300; i++)
		ck_assert_uint_eq(out.ids[i], (uint32_t)i * 100000u + 3u);
	postings_release(&out);
}
END_TEST

/* ------------------------------------------------------------ matcher resolution */

#define NSERIES 600
#define MAXL 5

static const char *const names[] = { "__name__", "env", "instance", "job", "zone" };
static const char *const envs[] = { "prod", "prod-eu", "dev", "staging" };
static const char *const jobs[] = { "api", "db", "cache", "a|b", "api\nx" };
static const char *const metrics[] = { "up", "http_requests_total", "foo", "foobar" };

static struct label lab[NSERIES][MAXL];
static struct labels sets[NSERIES];
static char inst[NSERIES][16];

static struct index *build(void)
{
	struct index *ix = index_new();
	unsigned seed = 7;

	ck_assert_ptr_nonnull(ix);
	for (int i = 0; i < NSERIES; i++) {
		size_t n = 0;

		snprintf(inst[i], sizeof(inst[i]), "host-%d", i % 97);
		lab[i][n].name = names[0];
		lab[i][n++].value = metrics[rand_r(&seed) % 4];
		if (rand_r(&seed) % 4) {
			lab[i][n].name = names[1];
			lab[i][n++].value = envs[rand_r(&seed) % 4];
		}
		lab[i][n].name = names[2];
		lab[i][n++].value = inst[i];
		if (rand_r(&seed) % 5) {
			lab[i][n].name = names[3];
			lab[i][n++].value = jobs[rand_r(&seed) % 5];
		}
		if (i % 3 == 0) {
			lab[i][n].name = names[4];
			lab[i][n++].value = "z1";
		}
		sets[i].v = lab[i];
		sets[i].n = n;
	}
	/* add with a few ids swapped, as racing creators would */
	for (int i = 0; i < NSERIES; i++) {
		int id = (i % 10 == 4) ? i + 1 : (i % 10 == 5) ? i - 1 : i;

		ck_assert_int_eq(index_add(ix, (uint32_t)id, &sets[id]), 0);
	}
	return ix;
}

static bool brute(const struct matcher *ms, size_t n, int id)
{
	for (size_t i = 0; i < n; i++) {
		const char *v = labels_get(&sets[id], ms[i].name);

		if (!matcher_matches(&ms[i], v ? v : ""))
			return false;
	}
	return true;
}

struct mspec {
	enum matcher_type t;
	const char *name, *value;
};

static void check_select(struct index *ix, const struct mspec *spec, size_t n)
{
	struct matcher ms[4];
	struct postings p = POSTINGS_INIT;
	struct ts_error err;
	size_t k = 0, expect = 0;

	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(matcher_init(&ms[i], spec[i].t, spec[i].name, spec[i].value,
					      &err), 0);
	ck_assert_int_eq(index_select(ix, ms, n, &p), 0);
	for (int id = 0; id < NSERIES; id++) {
		if (!brute(ms, n, id))
			continue;
		expect++;
		ck_assert_msg(k < p.n && p.ids[k] == (uint32_t)id,
			      "matcher %s %d %s: series %d missing", spec[0].name, spec[0].t,
			      spec[0].value, id);
		k++;
	}
	ck_assert_msg(p.n == expect, "matcher %s %d \"%s\": %zu ids, want %zu", spec[0].name,
		      spec[0].t, spec[0].value, p.n, expect);
	postings_release(&p);
	for (size_t i = 0; i < n; i++)
		matcher_release(&ms[i]);
}

START_TEST(test_index_select_brute_force)
{
	struct index *ix = build();
	static const struct mspec single[] = {
		{ MATCHER_EQ, "env", "prod" },       { MATCHER_EQ, "env", "" },
		{ MATCHER_EQ, "env", "nope" },       { MATCHER_NEQ, "env", "prod" },
		{ MATCHER_NEQ, "env", "" },          { MATCHER_RE, "env", "prod.*" },
		{ MATCHER_RE, "env", "prod|dev" },   { MATCHER_RE, "env", ".*" },
		{ MATCHER_RE, "env", ".+" },         { MATCHER_RE, "env", "|prod" },
		{ MATCHER_RE, "env", "p.*-eu" },     { MATCHER_NRE, "env", "prod.*" },
		{ MATCHER_NRE, "env", "prod|dev" },  { MATCHER_NRE, "env", ".*" },
		{ MATCHER_NRE, "env", ".+" },        { MATCHER_NRE, "env", "" },
		{ MATCHER_RE, "job", "a\\|b" },      { MATCHER_RE, "job", "api.*" },
		{ MATCHER_RE, "job", "api.x" },      { MATCHER_RE, "instance", "host-1.*" },
		{ MATCHER_RE, "instance", "host-[0-9]" }, { MATCHER_EQ, "missing", "" },
		{ MATCHER_NEQ, "missing", "x" },     { MATCHER_RE, "missing", ".+" },
		{ MATCHER_RE, "__name__", "foo.*" }, { MATCHER_RE, "__name__", "(?i)FOO" },
		{ MATCHER_RE, "zone", "z1|" },       { MATCHER_NRE, "zone", "z1|" },
		/* a literal prefix that no stored value starts with */
		{ MATCHER_RE, "instance", "nomatch_[0-9]" }, { MATCHER_NRE, "env", "zzz.*" },
	};

	for (size_t i = 0; i < sizeof(single) / sizeof(single[0]); i++)
		check_select(ix, &single[i], 1);

	struct mspec m2[][3] = {
		{ { MATCHER_EQ, "__name__", "up" }, { MATCHER_NEQ, "env", "dev" },
		  { MATCHER_RE, "job", "api|db" } },
		{ { MATCHER_RE, "__name__", "foo.*" }, { MATCHER_EQ, "zone", "" },
		  { MATCHER_NRE, "instance", "host-1.*" } },
		{ { MATCHER_EQ, "env", "" }, { MATCHER_EQ, "job", "" },
		  { MATCHER_NEQ, "zone", "z1" } },
		{ { MATCHER_EQ, "__name__", "up" }, { MATCHER_EQ, "__name__", "foo" },
		  { MATCHER_RE, "env", ".*" } },
	};
	for (size_t i = 0; i < sizeof(m2) / sizeof(m2[0]); i++)
		check_select(ix, m2[i], 3);
	check_select(ix, NULL, 0);
	index_free(ix);
}
END_TEST

START_TEST(test_index_label_names_values)
{
	struct index *ix = build();
	const char **v;
	size_t n;
	char extra[3][8] = { "aaa", "zzz", "mmm" };

	ck_assert_int_eq(index_label_names(ix, &v, &n), 0);
	ck_assert_uint_eq(n, 5);
	for (size_t i = 0; i < n; i++)
		ck_assert_str_eq(v[i], names[i]);
	free(v);

	ck_assert_int_eq(index_label_values(ix, "env", &v, &n), 0);
	ck_assert_uint_eq(n, 4);
	ck_assert_str_eq(v[0], "dev");
	ck_assert_str_eq(v[1], "prod");
	ck_assert_str_eq(v[2], "prod-eu");
	ck_assert_str_eq(v[3], "staging");
	free(v);

	/* values added after a sort are merged in */
	for (int i = 0; i < 3; i++) {
		struct label l[2] = { { "__name__", "up" }, { "env", extra[i] } };
		struct labels ls = { l, 2 };

		ck_assert_int_eq(index_add(ix, NSERIES + (uint32_t)i, &ls), 0);
	}
	ck_assert_int_eq(index_label_values(ix, "env", &v, &n), 0);
	ck_assert_uint_eq(n, 7);
	for (size_t i = 1; i < n; i++)
		ck_assert_int_lt(strcmp(v[i - 1], v[i]), 0);
	ck_assert_str_eq(v[0], "aaa");
	ck_assert_str_eq(v[6], "zzz");
	free(v);

	ck_assert_int_eq(index_label_values(ix, "nope", &v, &n), 0);
	ck_assert_uint_eq(n, 0);
	free(v);

	struct postings p = POSTINGS_INIT;
	ck_assert_int_eq(index_postings(ix, "env", "mmm", &p), 0);
	ck_assert_uint_eq(p.n, 1);
	ck_assert_uint_eq(p.ids[0], NSERIES + 2);
	ck_assert_int_eq(index_all(ix, &p), 0);
	ck_assert_uint_eq(p.n, NSERIES + 3);
	for (size_t i = 0; i < p.n; i++)
		ck_assert_uint_eq(p.ids[i], i);
	postings_release(&p);
	ck_assert_uint_gt(index_bytes(ix), 0);
	index_free(ix);
	index_free(NULL);
}
END_TEST

START_TEST(test_index_big_lists_sorted)
{
	struct index *ix = index_new();
	struct label l[2] = { { "__name__", "m" }, { "k", "v" } };
	struct labels ls = { l, 2 };
	struct postings p = POSTINGS_INIT;

	/* ids arrive in pairs swapped: lists must stay sorted and distinct */
	for (uint32_t i = 0; i < 10000; i += 2) {
		ck_assert_int_eq(index_add(ix, i + 1, &ls), 0);
		ck_assert_int_eq(index_add(ix, i, &ls), 0);
	}
	ck_assert_int_eq(index_add(ix, 5, &ls), 0); /* again: no duplicate */
	ck_assert_int_eq(index_postings(ix, "k", "v", &p), 0);
	ck_assert_uint_eq(p.n, 10000);
	for (uint32_t i = 0; i < 10000; i++)
		ck_assert_uint_eq(p.ids[i], i);
	postings_release(&p);
	index_free(ix);
}
END_TEST

Suite *index_suite(void);

Suite *index_suite(void)
{
	Suite *s = suite_create("index");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_index_postings_ops_brute_force);
	tcase_add_test(tc, test_index_union_many_lists);
	tcase_add_test(tc, test_index_select_brute_force);
	tcase_add_test(tc, test_index_label_names_values);
	tcase_add_test(tc, test_index_big_lists_sorted);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(index_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
