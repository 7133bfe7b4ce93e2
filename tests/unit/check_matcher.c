/* check_matcher.c - =, !=, =~, !~ and the regex fast paths */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsdb/matcher.h"

static struct matcher mk(enum matcher_type t, const char *v)
{
	struct matcher m;
	struct ts_error err;

	ts_error_clear(&err);
	ck_assert_msg(matcher_init(&m, t, "l", v, &err) == 0, "init %s: %s", v, err.msg);
	return m;
}

static bool re_match(const char *re, const char *v)
{
	struct matcher m = mk(MATCHER_RE, re);
	bool r = matcher_matches(&m, v);

	matcher_release(&m);
	return r;
}

START_TEST(test_matcher_types)
{
	struct matcher eq = mk(MATCHER_EQ, "a"), ne = mk(MATCHER_NEQ, "a");
	struct matcher re = mk(MATCHER_RE, "a|b"), nre = mk(MATCHER_NRE, "a|b");
	struct matcher eqe = mk(MATCHER_EQ, ""), nee = mk(MATCHER_NEQ, "");

	ck_assert(matcher_matches(&eq, "a"));
	ck_assert(!matcher_matches(&eq, "ab"));
	ck_assert(!matcher_matches(&ne, "a"));
	ck_assert(matcher_matches(&ne, ""));
	ck_assert(matcher_matches(&re, "b"));
	ck_assert(!matcher_matches(&re, "c"));
	ck_assert(!matcher_matches(&nre, "b"));
	ck_assert(matcher_matches(&nre, "c"));
	/* the empty string stands for an absent label */
	ck_assert(!matcher_matches_empty(&eq));
	ck_assert(matcher_matches_empty(&ne));
	ck_assert(!matcher_matches_empty(&re));
	ck_assert(matcher_matches_empty(&nre));
	ck_assert(matcher_matches_empty(&eqe));
	ck_assert(!matcher_matches_empty(&nee));
	ck_assert_str_eq(eq.name, "l");
	matcher_release(&eq);
	matcher_release(&ne);
	matcher_release(&re);
	matcher_release(&nre);
	matcher_release(&eqe);
	matcher_release(&nee);
	matcher_release(&eq); /* twice is safe */
}
END_TEST

START_TEST(test_matcher_anchoring)
{
	ck_assert(re_match("a.*", "abc"));
	ck_assert(!re_match("a.*", "xabc"));
	ck_assert(!re_match("b", "abc"));
	ck_assert(!re_match("ab", "abc"));
	ck_assert(re_match("a|ab", "ab")); /* end anchoring backtracks into the alternation */
	ck_assert(!re_match("a$", "a\n")); /* `$` is end of text */
	ck_assert(re_match("^a$", "a"));
	ck_assert(re_match("(?i)ABC", "abc"));
	ck_assert(re_match("[0-9]+", "123"));
	ck_assert(!re_match("[0-9]+", "12a"));
	ck_assert(re_match("", ""));
	ck_assert(!re_match("", "a"));
}
END_TEST

START_TEST(test_matcher_dot_newline)
{
	ck_assert(re_match(".*", "a\nb"));
	ck_assert(re_match("a.b", "a\nb"));
	ck_assert(re_match("a.*", "a\n\n"));
	ck_assert(re_match(".+", "\n"));
	ck_assert(re_match("x[^y]z", "x\nz"));
}
END_TEST

START_TEST(test_matcher_utf8)
{
	ck_assert(re_match(".", "é"));      /* one code point */
	ck_assert(!re_match("..", "é"));
	ck_assert(re_match("caf.", "café"));
	ck_assert(!re_match("\\w+", "é")); /* ASCII classes as in RE2 */
	ck_assert(re_match("\\pL+", "éa"));
	ck_assert(re_match("日本.*", "日本語"));
	ck_assert(re_match("é|ü", "ü"));
	/* invalid UTF-8 input never crashes; `.*` accepts anything */
	ck_assert(re_match(".*", "\xff"));
	(void)re_match("a.", "a\xff");
}
END_TEST

/* A list of values to compare fast paths with the generic regex path. */
static const char *const probe[] = {
	"", "a", "b", "c", "ab", "abc", "foo", "foobar", "foo\nbar", "fo", "xfoo", "bar",
	"a.b", "a|b", "f", "FOO", "foo.bar", "foo-1", "é", "éa", "prod-eu", "prod", "dev",
};

static void same_results(const char *fast, const char *slow)
{
	struct matcher a = mk(MATCHER_RE, fast), b = mk(MATCHER_RE, slow);
	struct matcher na = mk(MATCHER_NRE, fast), nb = mk(MATCHER_NRE, slow);

	for (size_t i = 0; i < sizeof(probe) / sizeof(probe[0]); i++) {
		ck_assert_msg(matcher_matches(&a, probe[i]) == matcher_matches(&b, probe[i]),
			      "%s vs %s on \"%s\"", fast, slow, probe[i]);
		ck_assert(matcher_matches(&na, probe[i]) == matcher_matches(&nb, probe[i]));
	}
	ck_assert(matcher_matches_empty(&a) == matcher_matches_empty(&b));
	matcher_release(&a);
	matcher_release(&b);
	matcher_release(&na);
	matcher_release(&nb);
}

START_TEST(test_matcher_fast_paths_equal_regex)
{
	size_t n;
	const char *const *set;
	struct matcher m;

	/* `{1}` and `[\s\S]` defeat the fast paths: the generic PCRE2 result */
	same_results("a|b|c", "(?:a|b|c){1}");
	same_results("(foo|bar)", "(?:foo|bar){1}");
	same_results("a\\.b|a\\|b", "(?:a\\.b|a\\|b){1}");
	same_results("foo|", "(?:foo|){1}");
	same_results("foo.*", "foo[\\s\\S]*");
	same_results("prod.*", "prod[\\s\\S]*");
	same_results(".*", "[\\s\\S]*");
	same_results(".+", "[\\s\\S]+");
	same_results("fo+.*", "fo+[\\s\\S]*");
	same_results("foo?", "fo(?:o)?");
	same_results("é|éa", "(?:é|éa){1}");

	m = mk(MATCHER_RE, "c|a|b|a");
	set = matcher_set_values(&m, &n);
	ck_assert_ptr_nonnull(set);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(set[0], "a");
	ck_assert_str_eq(set[1], "b");
	ck_assert_str_eq(set[2], "c");
	ck_assert_ptr_null(matcher_prefix(&m));
	matcher_release(&m);

	m = mk(MATCHER_RE, "foo\\.bar.*");
	ck_assert_ptr_null(matcher_set_values(&m, &n));
	ck_assert_str_eq(matcher_prefix(&m), "foo.bar");
	ck_assert(matcher_matches(&m, "foo.bar\nx"));
	ck_assert(!matcher_matches(&m, "fooxbar"));
	matcher_release(&m);

	/* prefixes of general regexes */
	m = mk(MATCHER_RE, "abc[0-9]+");
	ck_assert_str_eq(matcher_prefix(&m), "abc");
	ck_assert(matcher_matches(&m, "abc12"));
	ck_assert(!matcher_matches(&m, "abd12"));
	matcher_release(&m);
	m = mk(MATCHER_RE, "abc?d");
	ck_assert_str_eq(matcher_prefix(&m), "ab");
	ck_assert(matcher_matches(&m, "abd"));
	matcher_release(&m);
	m = mk(MATCHER_RE, "ab.*|cd");
	ck_assert_ptr_null(matcher_prefix(&m));
	ck_assert(matcher_matches(&m, "cd"));
	matcher_release(&m);
	m = mk(MATCHER_EQ, "x");
	ck_assert_ptr_null(matcher_prefix(&m));
	ck_assert_ptr_null(matcher_set_values(&m, &n));
	matcher_release(&m);
}
END_TEST

START_TEST(test_matcher_bad_regex)
{
	static const char *const bad[] = {
		"a(", "(?<=a)b", "(?=a)", "(a)\\1", "a**", "[z-a]", "(?>a)", "a++", "\\K",
		"a{1001}", "a{2,1001}",
	};
	struct matcher m;
	struct ts_error err;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ts_error_clear(&err);
		ck_assert_msg(matcher_init(&m, MATCHER_RE, "l", bad[i], &err) == TS_ERR_INVALID,
			      "%s accepted", bad[i]);
		ck_assert_ptr_nonnull(strstr(err.msg, "error parsing regexp"));
		ck_assert_ptr_null(m.name);
		ck_assert_ptr_null(m.re);
		matcher_release(&m);
	}
	/* the same syntax inside a character class is fine */
	ck_assert(re_match("[(?=]+", "(?="));
	ck_assert(re_match("a{2,1000}", "aaa"));
	ck_assert(re_match("a{2,}", "aaaa"));
	ck_assert(re_match("a{,5}", "a{,5}")); /* not a repetition: literal */
	/* RE2 named groups are fine */
	ck_assert(re_match("(?P<x>a)b", "ab"));
}
END_TEST

struct thr_arg {
	const struct matcher *m;
	int ok;
};

static void *match_thread(void *p)
{
	struct thr_arg *a = p;
	char buf[32];

	a->ok = 1;
	for (int i = 0; i < 20000; i++) {
		snprintf(buf, sizeof(buf), "host-%d.example", i);
		if (matcher_matches(a->m, buf) != (i % 10 == 3))
			a->ok = 0;
	}
	return NULL;
}

START_TEST(test_matcher_threads)
{
	struct matcher m = mk(MATCHER_RE, "host-[0-9]*3\\.(example|test)");
	struct thr_arg args[4];
	pthread_t th[4];

	for (int i = 0; i < 4; i++) {
		args[i].m = &m;
		pthread_create(&th[i], NULL, match_thread, &args[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(args[i].ok, 1);
	}
	matcher_release(&m);
}
END_TEST

Suite *matcher_suite(void);

Suite *matcher_suite(void)
{
	Suite *s = suite_create("matcher");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_matcher_types);
	tcase_add_test(tc, test_matcher_anchoring);
	tcase_add_test(tc, test_matcher_dot_newline);
	tcase_add_test(tc, test_matcher_utf8);
	tcase_add_test(tc, test_matcher_fast_paths_equal_regex);
	tcase_add_test(tc, test_matcher_bad_regex);
	tcase_add_test(tc, test_matcher_threads);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(matcher_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
