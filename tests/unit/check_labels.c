/* check_labels.c - label sets, validation and the symbol table */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "tsdb/labels.h"

#define LS(arr) ((struct labels){ (arr), sizeof(arr) / sizeof((arr)[0]) })

START_TEST(test_labels_cmp_order)
{
	struct label a[] = { { "__name__", "up" }, { "job", "a" } };
	struct label b[] = { { "__name__", "up" }, { "job", "b" } };
	struct label c[] = { { "__name__", "up" }, { "job", "a" }, { "x", "1" } };
	struct label d[] = { { "__name__", "up" }, { "inst", "z" } };
	struct labels la = LS(a), lb = LS(b), lc = LS(c), ld = LS(d);

	ck_assert_int_lt(labels_cmp(&la, &lb), 0);
	ck_assert_int_gt(labels_cmp(&lb, &la), 0);
	ck_assert_int_eq(labels_cmp(&la, &la), 0);
	/* a prefix sorts first */
	ck_assert_int_lt(labels_cmp(&la, &lc), 0);
	ck_assert_int_gt(labels_cmp(&lc, &la), 0);
	/* names compare before values: inst < job */
	ck_assert_int_lt(labels_cmp(&ld, &la), 0);
	ck_assert(labels_equal(&la, &la));
	ck_assert(!labels_equal(&la, &lb));
	ck_assert(!labels_equal(&la, &lc));
}
END_TEST

START_TEST(test_labels_hash_separators)
{
	struct label a[] = { { "a", "bc" } };
	struct label b[] = { { "ab", "c" } };
	struct label c[] = { { "a", "b" }, { "c", "" } };
	char copy_name[] = "a", copy_val[] = "bc";
	struct label a2[] = { { copy_name, copy_val } };
	struct labels la = LS(a), lb = LS(b), lc = LS(c), la2 = LS(a2);
	const char raw[] = "a\xff" "bc\xff";

	ck_assert_uint_ne(labels_hash(&la), labels_hash(&lb));
	ck_assert_uint_ne(labels_hash(&la), labels_hash(&lc));
	/* content, not pointers */
	ck_assert_uint_eq(labels_hash(&la), labels_hash(&la2));
	/* stable: defined as XXH3 over name 0xff value 0xff ... */
	ck_assert_uint_eq(labels_hash(&la), XXH3_64bits(raw, sizeof(raw) - 1));
}
END_TEST

START_TEST(test_labels_hash_long_set)
{
	/* sets too big for the one-shot buffer hash the same way */
	static char big[3000];
	struct label a[] = { { "__name__", "m" }, { "big", big } };
	struct labels la = LS(a);
	char *raw = malloc(sizeof(big) + 32);
	size_t n = 0;

	memset(big, 'x', sizeof(big) - 1);
	n += (size_t)sprintf(raw, "__name__\xffm\xff" "big\xff");
	memcpy(raw + n, big, sizeof(big) - 1);
	n += sizeof(big) - 1;
	raw[n++] = (char)0xff;
	ck_assert_uint_eq(labels_hash(&la), XXH3_64bits(raw, n));
	free(raw);
}
END_TEST

START_TEST(test_labels_get_and_sort)
{
	struct label a[] = { { "zone", "z" }, { "__name__", "up" }, { "job", "j" },
			     { "app", "x" } };
	struct labels la = LS(a);

	labels_sort(&la);
	ck_assert_str_eq(la.v[0].name, "__name__");
	ck_assert_str_eq(la.v[1].name, "app");
	ck_assert_str_eq(la.v[2].name, "job");
	ck_assert_str_eq(la.v[3].name, "zone");
	ck_assert_str_eq(labels_get(&la, "job"), "j");
	ck_assert_str_eq(labels_get(&la, "__name__"), "up");
	ck_assert_str_eq(labels_get(&la, "zone"), "z");
	ck_assert_ptr_null(labels_get(&la, "instance"));
	ck_assert_ptr_null(labels_get(&la, "zzz"));
}
END_TEST

static int validate(struct label *v, size_t n, struct ts_error *err, struct labels *out)
{
	struct labels ls = { v, n };
	int rc;

	ts_error_clear(err);
	rc = labels_validate(&ls, err);
	if (out)
		*out = ls;
	return rc;
}

START_TEST(test_labels_validate_errors)
{
	struct ts_error err;
	struct label bad_name[] = { { "__name__", "up" }, { "0abc", "x" } };
	struct label dup[] = { { "job", "a" }, { "__name__", "up" }, { "job", "b" } };
	struct label noname[] = { { "job", "a" } };
	struct label emptyname[] = { { "__name__", "" }, { "job", "a" } };
	struct label badmetric[] = { { "__name__", "1up" } };
	struct label badutf[] = { { "__name__", "up" }, { "job", "a\xc3" } };
	struct label dash[] = { { "__name__", "up" }, { "a-b", "x" } };
	struct label sorted_dup[] = { { "__name__", "up" }, { "job", "a" }, { "job", "b" } };

	ck_assert_int_eq(validate(bad_name, 2, &err, NULL), TS_ERR_INVALID);
	ck_assert_str_eq(err.msg, "invalid label name \"0abc\"");
	ck_assert_int_eq(validate(dup, 3, &err, NULL), TS_ERR_INVALID);
	ck_assert_str_eq(err.msg, "duplicate label name \"job\"");
	ck_assert_int_eq(validate(sorted_dup, 3, &err, NULL), TS_ERR_INVALID);
	ck_assert_str_eq(err.msg, "duplicate label name \"job\"");
	ck_assert_int_eq(validate(noname, 1, &err, NULL), TS_ERR_INVALID);
	ck_assert_str_eq(err.msg, "missing metric name");
	ck_assert_int_eq(validate(emptyname, 2, &err, NULL), TS_ERR_INVALID);
	ck_assert_str_eq(err.msg, "missing metric name");
	ck_assert_int_eq(validate(badmetric, 1, &err, NULL), TS_ERR_INVALID);
	ck_assert_str_eq(err.msg, "invalid metric name \"1up\"");
	ck_assert_int_eq(validate(badutf, 2, &err, NULL), TS_ERR_INVALID);
	ck_assert(strstr(err.msg, "UTF-8") != NULL);
	ck_assert(strstr(err.msg, "\"job\"") != NULL);
	ck_assert_int_eq(validate(dash, 2, &err, NULL), TS_ERR_INVALID);
	ck_assert_str_eq(err.msg, "invalid label name \"a-b\"");
}
END_TEST

START_TEST(test_labels_validate_sorts_and_drops_empty)
{
	struct ts_error err;
	struct label v[] = { { "zone", "" }, { "job", "api" }, { "__name__", "http:req_total" },
			     { "a", "" }, { "_x9", "é😀" } };
	struct labels out;

	ck_assert_int_eq(validate(v, 5, &err, &out), 0);
	ck_assert_uint_eq(out.n, 3);
	ck_assert_str_eq(out.v[0].name, "__name__");
	ck_assert_str_eq(out.v[1].name, "_x9");
	ck_assert_str_eq(out.v[2].name, "job");
}
END_TEST

START_TEST(test_labels_name_and_utf8_rules)
{
	ck_assert(label_name_valid("_", 1));
	ck_assert(label_name_valid("a1_B", 4));
	ck_assert(!label_name_valid("", 0));
	ck_assert(!label_name_valid("a:b", 3));
	ck_assert(metric_name_valid("a:b", 3));
	ck_assert(metric_name_valid(":a", 2));
	ck_assert(!metric_name_valid("9a", 2));
	ck_assert(utf8_valid("plain", 5));
	ck_assert(utf8_valid("\xe2\x82\xac", 3));           /* euro sign */
	ck_assert(utf8_valid("\xf0\x9f\x98\x80", 4));       /* emoji */
	ck_assert(!utf8_valid("\xc0\xaf", 2));              /* overlong */
	ck_assert(!utf8_valid("\xe0\x80\xaf", 3));          /* overlong */
	ck_assert(!utf8_valid("\xed\xa0\x80", 3));          /* surrogate */
	ck_assert(!utf8_valid("\xf4\x90\x80\x80", 4));      /* > U+10FFFF */
	ck_assert(!utf8_valid("\xe2\x82", 2));              /* truncated */
	ck_assert(!utf8_valid("\x80", 1));
}
END_TEST

START_TEST(test_labels_format)
{
	struct label v[] = { { "__name__", "up" }, { "job", "a\"b" }, { "x", "1\n" } };
	struct labels ls = LS(v);
	char buf[64], tiny[4];
	size_t n;

	n = labels_format(&ls, buf, sizeof(buf));
	ck_assert_str_eq(buf, "up{job=\"a\\\"b\", x=\"1\\n\"}");
	ck_assert_uint_eq(n, strlen(buf));
	ck_assert_uint_eq(labels_format(&ls, tiny, sizeof(tiny)), n);
	ck_assert_str_eq(tiny, "up{");
}
END_TEST

START_TEST(test_labels_symtab_intern)
{
	struct symtab *st = symtab_new();
	const char *a, *b, *c;
	char buf[32];

	ck_assert_ptr_nonnull(st);
	a = symtab_intern(st, "job", 3);
	strcpy(buf, "job");
	b = symtab_intern(st, buf, 3);
	c = symtab_intern(st, "jobs", 3); /* only the first 3 bytes */
	ck_assert_ptr_eq(a, b);
	ck_assert_ptr_eq(a, c);
	ck_assert_str_eq(a, "job");
	ck_assert_ptr_ne(a, symtab_intern(st, "jo", 2));
	ck_assert_str_eq(symtab_intern(st, "", 0), "");
	ck_assert_uint_eq(symtab_count(st), 3);
	/* many strings, incl. large ones: pointers stay valid */
	const char *keep[5000];
	for (int i = 0; i < 5000; i++) {
		snprintf(buf, sizeof(buf), "v%d", i);
		keep[i] = symtab_intern(st, buf, strlen(buf));
	}
	char *big = malloc(40000);
	memset(big, 'q', 39999);
	big[39999] = '\0';
	const char *bp = symtab_intern(st, big, 39999);
	ck_assert_str_eq(bp, big);
	for (int i = 0; i < 5000; i++) {
		snprintf(buf, sizeof(buf), "v%d", i);
		ck_assert_str_eq(keep[i], buf);
		ck_assert_ptr_eq(keep[i], symtab_intern(st, buf, strlen(buf)));
	}
	ck_assert_ptr_eq(bp, symtab_intern(st, big, 39999));
	ck_assert_uint_eq(symtab_count(st), 5004);
	ck_assert_uint_ge(symtab_bytes(st), 40000);
	free(big);
	symtab_free(st);
	symtab_free(NULL);
}
END_TEST

struct intern_arg {
	struct symtab *st;
	const char **out; /* 2000 pointers */
};

static void *intern_thread(void *p)
{
	struct intern_arg *a = p;
	char buf[32];

	for (int i = 0; i < 2000; i++) {
		snprintf(buf, sizeof(buf), "s%d", i);
		a->out[i] = symtab_intern(a->st, buf, strlen(buf));
	}
	return NULL;
}

START_TEST(test_labels_symtab_threads)
{
	struct symtab *st = symtab_new();
	const char *res[4][2000];
	struct intern_arg args[4];
	pthread_t th[4];

	for (int i = 0; i < 4; i++) {
		args[i].st = st;
		args[i].out = res[i];
		pthread_create(&th[i], NULL, intern_thread, &args[i]);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	for (int k = 0; k < 2000; k++)
		for (int i = 1; i < 4; i++)
			ck_assert_ptr_eq(res[0][k], res[i][k]);
	ck_assert_uint_eq(symtab_count(st), 2000);
	symtab_free(st);
}
END_TEST

Suite *labels_suite(void);

Suite *labels_suite(void)
{
	Suite *s = suite_create("labels");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_labels_cmp_order);
	tcase_add_test(tc, test_labels_hash_separators);
	tcase_add_test(tc, test_labels_hash_long_set);
	tcase_add_test(tc, test_labels_get_and_sort);
	tcase_add_test(tc, test_labels_validate_errors);
	tcase_add_test(tc, test_labels_validate_sorts_and_drops_empty);
	tcase_add_test(tc, test_labels_name_and_utf8_rules);
	tcase_add_test(tc, test_labels_format);
	tcase_add_test(tc, test_labels_symtab_intern);
	tcase_add_test(tc, test_labels_symtab_threads);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(labels_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
