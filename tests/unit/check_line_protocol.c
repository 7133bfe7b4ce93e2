/*
 * check_line_protocol.c - the InfluxDB line-protocol parser and its
 * mapping onto series.
 *
 * Parser cases are golden pairs: an input and the dump of every point (or
 * error) it yields, one line each:
 *
 *	<measurement> [<tag>=<value>...] | <field>:<type>=<value>... | <time or ->
 *	! <line>: <reason>
 *
 * Mapping cases write through lp_write into a memory db and read back
 * with querier_select.
 */
#include <arpa/inet.h>
#include <check.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ingest/influx_udp.h"
#include "ingest/line_protocol.h"
#include "tsdb/db.h"
#include "tsdb/labels.h"
#include "util/buf.h"

/* ------------------------------------------------------------ dumping */

static const char *type_name(enum lp_type t)
{
	switch (t) {
	case LP_FLOAT:
		return "float";
	case LP_INTEGER:
		return "int";
	case LP_UNSIGNED:
		return "uint";
	case LP_BOOLEAN:
		return "bool";
	default:
		return "string";
	}
}

/* Dump every point and error of input (see the file comment); caller frees. */
static char *dump(const char *input, size_t len)
{
	struct lp_parser *p = lp_parser_new(input, len);
	struct buf b = BUF_INIT;
	struct lp_point pt;
	struct ts_error err;
	int rc;
	size_t i;

	ck_assert_ptr_nonnull(p);
	while ((rc = lp_parser_next(p, &pt, &err)) != 0) {
		if (rc < 0) {
			const char *why = strstr(err.msg, "': ");

			ck_assert_int_eq(rc, TS_ERR_INVALID);
			ck_assert_ptr_nonnull(why);
			buf_printf(&b, "! %d: %s\n", err.line, why + 3);
			continue;
		}
		buf_addstr(&b, pt.measurement);
		for (i = 0; i < pt.ntags; i++)
			buf_printf(&b, " %s=%s", pt.tags[i].key, pt.tags[i].value);
		buf_addstr(&b, " |");
		for (i = 0; i < pt.nfields; i++)
			buf_printf(&b, " %s:%s=%.17g", pt.fields[i].key,
				   type_name(pt.fields[i].type), pt.fields[i].value);
		if (pt.has_time)
			buf_printf(&b, " | %lld\n", (long long)pt.time);
		else
			buf_addstr(&b, " | -\n");
	}
	lp_parser_free(p);
	ck_assert(buf_ok(&b));
	return buf_detach(&b, NULL);
}

struct golden {
	const char *in;   /* body */
	const char *want; /* dump */
};

static void check_golden(const struct golden *g, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char *got = dump(g[i].in, strlen(g[i].in));

		if (strcmp(got, g[i].want) != 0)
			ck_abort_msg("input %zu:\n%s\ngot:\n%s\nwant:\n%s", i, g[i].in, got,
				     g[i].want);
		free(got);
	}
}

/* ------------------------------------------------------------ parser */

START_TEST(test_line_protocol_basic_forms)
{
	static const struct golden g[] = {
		{ "cpu value=1\n", "cpu | value:float=1 | -\n" },
		{ "cpu,host=a,region=eu usage=1.5,idle=2 1700000000000000000",
		  "cpu host=a region=eu | usage:float=1.5 idle:float=2 | 1700000000000000000\n" },
		{ "m f=1i,g=-2i,h=3u,i=t,j=FALSE,k=\"str\" -5",
		  "m | f:int=1 g:int=-2 h:uint=3 i:bool=1 j:bool=0 k:string=0 | -5\n" },
		/* every boolean spelling */
		{ "b a=t,b=T,c=true,d=True,e=TRUE,f=f,g=F,h=false,i=False,j=FALSE",
		  "b | a:bool=1 b:bool=1 c:bool=1 d:bool=1 e:bool=1 f:bool=0 g:bool=0 h:bool=0 "
		  "i:bool=0 j:bool=0 | -\n" },
		/* float spellings */
		{ "f a=1,b=1.5,c=1e3,d=-1.5E-3,e=.5,f=1.,g=-0.25,h=1E+2,i=0.1",
		  "f | a:float=1 b:float=1.5 c:float=1000 d:float=-0.0015 e:float=0.5 f:float=1 "
		  "g:float=-0.25 h:float=100 i:float=0.10000000000000001 | -\n" },
		/* long mantissas and exponents go the slow path, same value */
		{ "f a=123456789012345678901234,b=1e-30,c=0.000000000000000000000000001,"
		  "d=9007199254740993,e=1.7976931348623157e308",
		  "f | a:float=1.2345678901234569e+23 b:float=1.0000000000000001e-30 "
		  "c:float=1e-27 d:float=9007199254740992 e:float=1.7976931348623157e+308 | -\n" },
		/* integer limits */
		{ "i a=9223372036854775807i,b=-9223372036854775808i,c=18446744073709551615u",
		  "i | a:int=9.2233720368547758e+18 b:int=-9.2233720368547758e+18 "
		  "c:uint=1.8446744073709552e+19 | -\n" },
		/* whitespace: leading blanks, several spaces, trailing blanks */
		{ "  \tcpu  v=1   123   \n", "cpu | v:float=1 | 123\n" },
		/* comments, blank lines, CRLF */
		{ "# a comment\n\n   \ncpu v=1 1\r\n  # indented comment\r\ncpu v=2 2\r\n",
		  "cpu | v:float=1 | 1\ncpu | v:float=2 | 2\n" },
		/* empty body */
		{ "", "" },
	};

	check_golden(g, sizeof(g) / sizeof(g[0]));
}
END_TEST

START_TEST(test_line_protocol_escapes)
{
	static const struct golden g[] = {
		/* measurement: comma and space escaped, = literal */
		{ "c\\,p\\ u=x v=1", "c,p u=x | v:float=1 | -\n" },
		/* tag keys and values: comma, equals, space */
		{ "m,t\\,a\\=g\\ k=v\\,a\\=l\\ ue f=1",
		  "m t,a=g k=v,a=l ue | f:float=1 | -\n" },
		/* field keys: comma, equals, space */
		{ "m f\\,i\\=e\\ ld=1", "m | f,i=e ld:float=1 | -\n" },
		/* other backslashes are kept */
		{ "m\\x,t=a\\b f\\n=1", "m\\x t=a\\b | f\\n:float=1 | -\n" },
		/* string fields: escaped quote and backslash, commas, spaces and
		 * equals signs inside, and a newline inside */
		{ "m s=\"a \\\"q\\\" \\\\ b, c=d\",v=1 5\nm v=2 6",
		  "m | s:string=0 v:float=1 | 5\nm | v:float=2 | 6\n" },
		{ "m s=\"line one\nline two\",v=1 5\nm v=2 6\n",
		  "m | s:string=0 v:float=1 | 5\nm | v:float=2 | 6\n" },
		/* a '"' in a tag value or field key is literal */
		{ "m,t=a\"b f\"k=1", "m t=a\"b | f\"k:float=1 | -\n" },
		/* UTF-8 passes through */
		{ "m\xc3\xa9,t\xc3\xa9=v\xc3\xa9 f\xc3\xa9=1",
		  "m\xc3\xa9 t\xc3\xa9=v\xc3\xa9 | f\xc3\xa9:float=1 | -\n" },
	};

	check_golden(g, sizeof(g) / sizeof(g[0]));
}
END_TEST

START_TEST(test_line_protocol_errors)
{
	static const struct golden g[] = {
		{ ",t=a f=1", "! 1: missing measurement (line 1)\n" },
		{ "cpu", "! 1: missing fields (line 1)\n" },
		{ "cpu ", "! 1: missing fields (line 1)\n" },
		{ "cpu,t=a", "! 1: missing fields (line 1)\n" },
		{ "cpu,t=a ", "! 1: missing fields (line 1)\n" },
		{ "cpu, f=1", "! 1: missing tag key (line 1)\n" },
		{ "cpu,=a f=1", "! 1: missing tag key (line 1)\n" },
		{ "cpu,t f=1", "! 1: missing tag value (line 1)\n" },
		{ "cpu,t= f=1", "! 1: missing tag value (line 1)\n" },
		{ "cpu,t=,u=b f=1", "! 1: missing tag value (line 1)\n" },
		{ "cpu,t=a=b f=1", "! 1: invalid tag format (line 1)\n" },
		{ "cpu =1", "! 1: missing field key (line 1)\n" },
		{ "cpu a=1,=2", "! 1: missing field key (line 1)\n" },
		{ "cpu a=1, 5", "! 1: missing field key (line 1)\n" },
		{ "cpu a", "! 1: invalid field format (line 1)\n" },
		{ "cpu a=1,b", "! 1: invalid field format (line 1)\n" },
		{ "bad line here", "! 1: invalid field format (line 1)\n" },
		{ "cpu a=", "! 1: missing field value (line 1)\n" },
		{ "cpu a= 1", "! 1: missing field value (line 1)\n" },
		{ "cpu a=,b=1", "! 1: missing field value (line 1)\n" },
		{ "cpu a=\"open", "! 1: unbalanced quotes (line 1)\n" },
		{ "cpu a=\"x\"y", "! 1: invalid field format (line 1)\n" },
		{ "cpu a=1.1.1", "! 1: invalid number (line 1)\n" },
		{ "cpu a=-", "! 1: invalid number (line 1)\n" },
		{ "cpu a=.", "! 1: invalid number (line 1)\n" },
		{ "cpu a=1e", "! 1: invalid number (line 1)\n" },
		{ "cpu a=1x", "! 1: invalid number (line 1)\n" },
		{ "cpu a=1.5i", "! 1: invalid number (line 1)\n" },
		{ "cpu a=1e3i", "! 1: invalid number (line 1)\n" },
		{ "cpu a=-1u", "! 1: invalid number (line 1)\n" },
		{ "cpu a=-i", "! 1: invalid number (line 1)\n" },
		{ "cpu a=1ii", "! 1: invalid number (line 1)\n" },
		{ "cpu a=NaN", "! 1: invalid boolean (line 1)\n" },
		{ "cpu a=+1", "! 1: invalid boolean (line 1)\n" },
		{ "cpu a=yes", "! 1: invalid boolean (line 1)\n" },
		{ "cpu a=tRUE", "! 1: invalid boolean (line 1)\n" },
		{ "cpu a=9223372036854775808i", "! 1: integer out of range (line 1)\n" },
		{ "cpu a=-9223372036854775809i", "! 1: integer out of range (line 1)\n" },
		{ "cpu a=18446744073709551616u", "! 1: unsigned integer out of range (line 1)\n" },
		{ "cpu a=1e400", "! 1: invalid float (line 1)\n" },
		{ "cpu a=1 12x", "! 1: bad timestamp (line 1)\n" },
		{ "cpu a=1 -", "! 1: bad timestamp (line 1)\n" },
		{ "cpu a=1 1.5", "! 1: bad timestamp (line 1)\n" },
		{ "cpu a=1 1 2", "! 1: bad timestamp (line 1)\n" },
		{ "cpu a=1 9223372036854775808", "! 1: bad timestamp (line 1)\n" },
		/* a bad line does not stop the others; numbers count every line */
		{ "a v=1\n\n# c\nb v=\nc v=3\nd\ne v=5",
		  "a | v:float=1 | -\n! 4: missing field value (line 4)\nc | v:float=3 | -\n"
		  "! 6: missing fields (line 6)\ne | v:float=5 | -\n" },
		/* a string spanning lines counts them */
		{ "a s=\"x\ny\nz\"\nb v=", "a | s:string=0 | -\n! 4: missing field value (line 4)\n" },
	};

	check_golden(g, sizeof(g) / sizeof(g[0]));
}
END_TEST

START_TEST(test_line_protocol_error_message)
{
	const char *in = "ok v=1\nbad\x01line\xff v=\n";
	struct lp_parser *p = lp_parser_new(in, strlen(in));
	struct lp_point pt;
	struct ts_error err;
	char longline[600];

	ck_assert_int_eq(lp_parser_next(p, &pt, &err), 1);
	ck_assert_int_eq(pt.line, 1);
	ck_assert_int_eq(lp_parser_next(p, &pt, &err), TS_ERR_INVALID);
	/* the line is quoted as written, control bytes and bad UTF-8 escaped */
	ck_assert_str_eq(err.msg,
			 "unable to parse 'bad\\x01line\\xff v=': missing field value (line 2)");
	ck_assert_int_eq(err.line, 2);
	ck_assert_int_eq(err.pos, 7);
	ck_assert_int_eq(lp_parser_next(p, &pt, &err), 0);
	lp_parser_free(p);

	/* a long line is cut */
	memset(longline, 'x', sizeof(longline));
	longline[sizeof(longline) - 1] = '\0';
	p = lp_parser_new(longline, strlen(longline));
	ck_assert_int_eq(lp_parser_next(p, &pt, &err), TS_ERR_INVALID);
	ck_assert_msg(strstr(err.msg, "...': missing fields (line 1)") != NULL, "%s", err.msg);
	ck_assert_uint_lt(strlen(err.msg), 300);
	lp_parser_free(p);
}
END_TEST

START_TEST(test_line_protocol_precision_names)
{
	static const struct {
		const char *s;
		enum lp_precision p;
	} ok[] = {
		{ "", LP_NS }, { "n", LP_NS }, { "ns", LP_NS }, { "u", LP_US }, { "us", LP_US },
		{ "ms", LP_MS }, { "s", LP_S }, { "m", LP_M }, { "h", LP_H },
	};
	enum lp_precision p;
	size_t i;

	ck_assert_int_eq(lp_precision_parse(NULL, &p), 0);
	ck_assert_int_eq(p, LP_NS);
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ck_assert_int_eq(lp_precision_parse(ok[i].s, &p), 0);
		ck_assert_int_eq(p, ok[i].p);
	}
	ck_assert_int_eq(lp_precision_parse("sec", &p), TS_ERR_INVALID);
	ck_assert_int_eq(lp_precision_parse("MS", &p), TS_ERR_INVALID);
	ck_assert_int_eq(lp_precision_parse("µs", &p), TS_ERR_INVALID);
}
END_TEST

/* ------------------------------------------------------------ mapping */

static struct db *new_db(void)
{
	struct ts_error err;
	struct db *db = db_open(NULL, NULL, &err);

	ck_assert_ptr_nonnull(db);
	return db;
}

/* Every series with its samples, one line each:
 * `name{a="b", ...} t=v t=v`; caller frees. */
static char *read_all(struct db *db)
{
	struct querier *q = db_querier(db);
	struct series_set set;
	struct ts_error err;
	struct buf b = BUF_INIT;
	size_t i, k;
	char lbuf[1024];

	ck_assert_ptr_nonnull(q);
	ck_assert_int_eq(querier_select(q, NULL, 0, INT64_MIN, INT64_MAX, true, 0, &set, &err),
			 0);
	for (i = 0; i < set.n; i++) {
		labels_format(&set.s[i].labels, lbuf, sizeof(lbuf));
		buf_addstr(&b, lbuf);
		for (k = 0; k < set.s[i].n; k++)
			buf_printf(&b, " %lld=%.17g", (long long)set.s[i].t[k], set.s[i].v[k]);
		buf_addch(&b, '\n');
	}
	series_set_release(&set);
	querier_free(q);
	return buf_detach(&b, NULL);
}

static void write_lp(struct db *db, const char *body, enum lp_precision prec, const char *dbn,
		     struct lp_result *res)
{
	struct lp_opts o = { prec, 1700000000123, dbn };

	lp_write(db, body, strlen(body), &o, res);
}

START_TEST(test_line_protocol_write_names_and_labels)
{
	struct db *db = new_db();
	struct lp_result res;
	char *got;

	write_lp(db,
		 "cpu,host=a,region=us\\ west usage=1.5,value=2i,ok=true,s=\"x\",n=7u 1000000000\n"
		 "cpu.x-y,ta.g=v,1st=z value=3 1000000000\n"
		 "9lives,Zed=A,__name__=evil f=1 1000000000\n"
		 "m\xc3\xa9tric,t\xc3\xa9=v\xc3\xa9 value=4 1000000000\n"
		 "mem,db=mine value=5 1000000000\n"
		 "job:rate f:x=6 1000000000\n",
		 LP_NS, "telegraf", &res);
	ck_assert_int_eq(res.status, 204);
	ck_assert_str_eq(res.msg, "");
	ck_assert_uint_eq(res.points, 6);
	ck_assert_uint_eq(res.samples_written, 9);
	ck_assert_uint_eq(res.strings_skipped, 1);
	ck_assert_uint_eq(res.bad_lines, 0);
	got = read_all(db);
	ck_assert_str_eq(got,
			 "_9lives_f{Zed=\"A\", db=\"telegraf\"} 1000=1\n"
			 "cpu_x_y{_1st=\"z\", db=\"telegraf\", ta_g=\"v\"} 1000=3\n"
			 "cpu{db=\"telegraf\", host=\"a\", region=\"us west\"} 1000=2\n"
			 "cpu_n{db=\"telegraf\", host=\"a\", region=\"us west\"} 1000=7\n"
			 "cpu_ok{db=\"telegraf\", host=\"a\", region=\"us west\"} 1000=1\n"
			 "cpu_usage{db=\"telegraf\", host=\"a\", region=\"us west\"} 1000=1.5\n"
			 "job:rate_f:x{db=\"telegraf\"} 1000=6\n"
			 "m_tric{db=\"telegraf\", t_=\"v\xc3\xa9\"} 1000=4\n"
			 "mem{db=\"mine\"} 1000=5\n");
	free(got);
	db_close(db);
}
END_TEST

START_TEST(test_line_protocol_write_precisions)
{
	static const struct {
		enum lp_precision p;
		const char *ts;
		long long want_ms;
	} cases[] = {
		{ LP_NS, "1700000000123456789", 1700000000123LL },
		{ LP_US, "1700000000123456", 1700000000123LL },
		{ LP_MS, "1700000000123", 1700000000123LL },
		{ LP_S, "1700000000", 1700000000000LL },
		{ LP_M, "28333333", 1699999980000LL },
		{ LP_H, "472222", 1699999200000LL },
		{ LP_NS, "-1500000", -2LL },
		{ LP_NS, "-1000000", -1LL },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct db *db = new_db();
		struct lp_result res;
		char body[128], want[128], *got;

		snprintf(body, sizeof(body), "m value=1 %s\n", cases[i].ts);
		write_lp(db, body, cases[i].p, NULL, &res);
		ck_assert_int_eq(res.status, 204);
		got = read_all(db);
		snprintf(want, sizeof(want), "m{} %lld=1\n", cases[i].want_ms);
		ck_assert_str_eq(got, want);
		free(got);
		db_close(db);
	}
}
END_TEST

START_TEST(test_line_protocol_write_server_time)
{
	static const struct {
		enum lp_precision p;
		long long want_ms;
	} cases[] = {
		{ LP_NS, 1700000000123LL }, { LP_MS, 1700000000123LL },
		{ LP_S, 1700000000000LL }, { LP_H, 1699999200000LL },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct db *db = new_db();
		struct lp_result res;
		char want[64], *got;

		write_lp(db, "m value=1\n", cases[i].p, "", &res);
		ck_assert_int_eq(res.status, 204);
		got = read_all(db);
		snprintf(want, sizeof(want), "m{} %lld=1\n", cases[i].want_ms);
		ck_assert_str_eq(got, want);
		free(got);
		db_close(db);
	}
}
END_TEST

START_TEST(test_line_protocol_write_bad_lines_keep_good)
{
	struct db *db = new_db();
	struct lp_result res;
	char *got;

	write_lp(db,
		 "a value=1 1000000\n"
		 "b,t=x,t=y v=2 1000000\n"
		 "c v= 1000000\n"
		 "d,x.y=1,x_y=2 v=3 1000000\n"
		 "e,t=\xff v=4 1000000\n"
		 "f value=5 1\n"
		 "g value=6 9223372036854775807\n",
		 LP_NS, NULL, &res);
	ck_assert_int_eq(res.status, 400);
	ck_assert_uint_eq(res.bad_lines, 4);
	ck_assert_uint_eq(res.points, 6);
	ck_assert_uint_eq(res.samples_written, 3);
	ck_assert_str_eq(res.msg, "unable to parse 'b,t=x,t=y v=2 1000000': duplicate tags "
				  "(line 2); 4 bad lines in all");
	got = read_all(db);
	ck_assert_str_eq(got, "a{} 1=1\nf{} 0=5\ng{} 9223372036854=6\n");
	free(got);

	/* the other mapping errors, each alone */
	write_lp(db, "d,x.y=1,x_y=2 v=3 1000000\n", LP_NS, NULL, &res);
	ck_assert_str_eq(res.msg, "unable to parse 'd,x.y=1,x_y=2 v=3 1000000': duplicate tags "
				  "(line 1)");
	write_lp(db, "e,t=\xff v=4 1000000\n", LP_NS, NULL, &res);
	ck_assert_str_eq(res.msg, "unable to parse 'e,t=\\xff v=4 1000000': invalid UTF-8 in "
				  "tag value (line 1)");
	write_lp(db, "h v=1 9223372036854775807\n", LP_S, NULL, &res);
	ck_assert_int_eq(res.status, 400);
	ck_assert_str_eq(res.msg, "unable to parse 'h v=1 9223372036854775807': time outside "
				  "range (line 1)");
	db_close(db);
}
END_TEST

START_TEST(test_line_protocol_write_out_of_order_reported)
{
	struct db *db = new_db();
	struct lp_result res;

	write_lp(db, "m v=1 2000000\nm v=2 2000000\n", LP_NS, NULL, &res);
	ck_assert_int_eq(res.status, 400);
	ck_assert_uint_eq(res.rejected, 1);
	ck_assert_uint_eq(res.duplicate, 1);
	ck_assert_uint_eq(res.out_of_order, 0);
	ck_assert_uint_eq(res.samples_written, 1);
	ck_assert_msg(strstr(res.msg, "partial write: duplicate sample for series") != NULL,
		      "%s", res.msg);
	ck_assert_msg(strstr(res.msg, "(line 2)") != NULL, "%s", res.msg);
	/* the same value again is an exact duplicate: accepted */
	write_lp(db, "m v=1 2000000\n", LP_NS, NULL, &res);
	ck_assert_int_eq(res.status, 204);
	db_close(db);
}
END_TEST

START_TEST(test_line_protocol_write_many_tags_and_fields)
{
	struct db *db = new_db();
	struct buf b = BUF_INIT;
	struct lp_result res;
	struct querier *q;
	struct series_set set;
	struct ts_error err;
	int i;

	/* more tags and fields than the parser's first arrays hold, unsorted */
	buf_addstr(&b, "wide");
	for (i = 40; i > 0; i--)
		buf_printf(&b, ",t%02d=v%d", i, i);
	buf_addch(&b, ' ');
	for (i = 0; i < 50; i++)
		buf_printf(&b, "%sf%d=%di", i ? "," : "", i, i);
	buf_addstr(&b, " 5000000\n");
	ck_assert(buf_ok(&b));
	lp_write(db, b.data, b.len, &(struct lp_opts){ LP_NS, 0, NULL }, &res);
	ck_assert_int_eq(res.status, 204);
	ck_assert_uint_eq(res.samples_written, 50);
	q = db_querier(db);
	ck_assert_int_eq(querier_select(q, NULL, 0, INT64_MIN, INT64_MAX, true, 0, &set, &err),
			 0);
	ck_assert_uint_eq(set.n, 50);
	ck_assert_uint_eq(set.s[0].labels.n, 41);
	ck_assert_str_eq(set.s[0].labels.v[0].name, "__name__");
	ck_assert_str_eq(set.s[0].labels.v[1].name, "t01");
	ck_assert_str_eq(set.s[0].labels.v[40].name, "t40");
	series_set_release(&set);
	querier_free(q);
	buf_release(&b);
	db_close(db);
}
END_TEST

START_TEST(test_line_protocol_uppercase_tag_sorts_before_name)
{
	struct db *db = new_db();
	struct lp_result res;
	char *got;

	write_lp(db, "m,A=1,b=2,_c=3 value=1 1000000\n", LP_NS, NULL, &res);
	ck_assert_int_eq(res.status, 204);
	got = read_all(db);
	ck_assert_str_eq(got, "m{A=\"1\", _c=\"3\", b=\"2\"} 1=1\n");
	free(got);
	db_close(db);
}
END_TEST

START_TEST(test_line_protocol_udp_listener)
{
	static const char dgram[] = "u,h=a value=1 1000000000\nu,h=b f=2i 1000000000\nbad\n";
	struct db *db = new_db();
	struct influx_udp_stats st;
	struct ts_error err;
	struct sockaddr_in sa;
	struct influx_udp *u;
	int fd, i;
	char *got;

	ck_assert_ptr_null(influx_udp_start(db, "nonsense", &err));
	ck_assert_int_eq(err.code, TS_ERR_INVALID);
	ck_assert_ptr_null(influx_udp_start(db, "127.0.0.1:99999", &err));
	u = influx_udp_start(db, "127.0.0.1:0", &err);
	ck_assert_msg(u != NULL, "%s", err.msg);
	ck_assert_uint_ne(influx_udp_port(u), 0);

	fd = socket(AF_INET, SOCK_DGRAM, 0);
	ck_assert_int_ge(fd, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(influx_udp_port(u));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(sendto(fd, dgram, strlen(dgram), 0, (struct sockaddr *)&sa, sizeof(sa)),
			 (ssize_t)strlen(dgram));
	close(fd);
	for (i = 0; i < 200; i++) {
		influx_udp_stats(u, &st);
		if (st.datagrams)
			break;
		nanosleep(&(struct timespec){ 0, 10000000 }, NULL);
	}
	ck_assert_uint_eq(st.datagrams, 1);
	ck_assert_uint_eq(st.samples_written, 2);
	ck_assert_uint_eq(st.bad_lines, 1);
	influx_udp_stop(u);
	influx_udp_stop(NULL);
	got = read_all(db);
	ck_assert_str_eq(got, "u{h=\"a\"} 1000=1\nu_f{h=\"b\"} 1000=2\n");
	free(got);
	db_close(db);
}
END_TEST

static Suite *line_protocol_suite(void)
{
	Suite *s = suite_create("line_protocol");
	TCase *tc = tcase_create("parse");
	TCase *tm = tcase_create("write");

	tcase_add_test(tc, test_line_protocol_basic_forms);
	tcase_add_test(tc, test_line_protocol_escapes);
	tcase_add_test(tc, test_line_protocol_errors);
	tcase_add_test(tc, test_line_protocol_error_message);
	tcase_add_test(tc, test_line_protocol_precision_names);
	suite_add_tcase(s, tc);
	tcase_add_test(tm, test_line_protocol_write_names_and_labels);
	tcase_add_test(tm, test_line_protocol_write_precisions);
	tcase_add_test(tm, test_line_protocol_write_server_time);
	tcase_add_test(tm, test_line_protocol_write_bad_lines_keep_good);
	tcase_add_test(tm, test_line_protocol_write_out_of_order_reported);
	tcase_add_test(tm, test_line_protocol_write_many_tags_and_fields);
	tcase_add_test(tm, test_line_protocol_uppercase_tag_sorts_before_name);
	tcase_add_test(tm, test_line_protocol_udp_listener);
	suite_add_tcase(s, tm);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(line_protocol_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
