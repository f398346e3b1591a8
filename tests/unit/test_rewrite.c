/*
 * test_rewrite.c - unit tests for src/lib/rewrite: pip name
 * normalization, requirement line and pyproject rewriting, every other
 * declaration format (Poetry, Pipfile, setup.cfg, setup.py, manifest.json,
 * Dockerfile) with its partial and bad-input cases, the Python
 * tokenizer and rename (strings, comments, f-strings, longer identifiers
 * untouched), unified diff output, recipe errors, and the built-in recipe
 * staying identical to examples/recipes/.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ferry/buf.h"
#include "ferry/error.h"
#include "ferry/rewrite.h"
#include "rewrite/rewrite_int.h"

static const char RECIPE[] =
	"name: t\n"
	"requirements:\n"
	"  replace:\n"
	"    - {package: asyncio-mqtt, with: aiomqtt, pin: \"==2.4.0\"}\n"
	"  add:\n"
	"    - {package: paho-mqtt, pin: \"==2.1.0\", when: aiomqtt}\n"
	"python:\n"
	"  rename:\n"
	"    - {module: asyncio_mqtt, to: aiomqtt}\n"
	"    - {module: old.sub, to: new.other}\n"
	"  warnings:\n"
	"    - {match: [\".messages(\"], message: no messages()}\n"
	"    - {match: [\"client_id =\"], message: use identifier}\n";

static ferry_recipe *recipe(void)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	ferry_recipe *r = NULL;

	if (ferry_recipe_parse(RECIPE, strlen(RECIPE), "test", &r, &err))
		fail_msg("recipe: %s", err.msg);
	return r;
}

static void norm(void **state)
{
	struct ferry_buf b = FERRY_BUF_INIT;

	(void)state;
	ferry_pip_normalize("Asyncio_MQTT", 12, &b);
	assert_string_equal(b.buf, "asyncio-mqtt");
	ferry_buf_clear(&b);
	ferry_pip_normalize("a.-_B..c", 8, &b);
	assert_string_equal(b.buf, "a-b-c");
	ferry_buf_release(&b);
}

/* Rewrite text as requirements (kind) and compare with want. */
static void req_case(ferry_recipe *r, int kind, const char *in, const char *want)
{
	struct ferry_buf out = FERRY_BUF_INIT, notes = FERRY_BUF_INIT;
	struct ferry_error err = FERRY_ERROR_INIT;
	int changed = -1;

	assert_int_equal(ferry_rewrite_requirements(r, kind, in, strlen(in), &out,
						    &notes, &changed, &err), 0);
	if (strcmp(out.buf, want))
		fail_msg("input:\n%s\ngot:\n%s\nwant:\n%s", in, out.buf, want);
	assert_int_equal(changed, strcmp(in, want) != 0);
	ferry_buf_release(&out);
	ferry_buf_release(&notes);
}

static void requirements_txt(void **state)
{
	ferry_recipe *r = recipe();

	(void)state;
	req_case(r, FERRY_REQ_TXT, "asyncio-mqtt>=0.16.1,<0.17.0\n",
		 "aiomqtt==2.4.0\npaho-mqtt==2.1.0\n");
	/* extras, marker and comment stay; the marker is copied to the add */
	req_case(r, FERRY_REQ_TXT,
		 "Asyncio_Mqtt[x] >= 0.16; python_version>=\"3.8\"  # mqtt\n",
		 "aiomqtt[x]==2.4.0; python_version>=\"3.8\"  # mqtt\n"
		 "paho-mqtt==2.1.0; python_version>=\"3.8\"\n");
	/* -r, comments and unrelated lines are untouched; no final newline */
	req_case(r, FERRY_REQ_TXT, "-r other.txt\n# asyncio-mqtt\nasyncio.mqtt",
		 "-r other.txt\n# asyncio-mqtt\naiomqtt==2.4.0\npaho-mqtt==2.1.0");
	/* continuation lines stay with their requirement, CRLF kept */
	req_case(r, FERRY_REQ_TXT,
		 "asyncio-mqtt==0.16.1 \\\r\n    --hash=sha256:ab\r\nx==1\r\n",
		 "aiomqtt==2.4.0 \\\r\n    --hash=sha256:ab\r\npaho-mqtt==2.1.0\r\nx==1\r\n");
	/* longer names are other packages */
	req_case(r, FERRY_REQ_TXT, "asyncio-mqtt-extra==1\n", "asyncio-mqtt-extra==1\n");
	/* already present target: the old line goes, paho present: kept */
	req_case(r, FERRY_REQ_TXT, "aiomqtt==2.4.0\nasyncio-mqtt==0.16\npaho-mqtt==2.1.0\n",
		 "aiomqtt==2.4.0\npaho-mqtt==2.1.0\n");
	/* idempotent */
	req_case(r, FERRY_REQ_TXT, "aiomqtt==2.4.0\npaho-mqtt==2.1.0\n",
		 "aiomqtt==2.4.0\npaho-mqtt==2.1.0\n");
	ferry_recipe_free(r);
}

static void requirements_pyproject(void **state)
{
	ferry_recipe *r = recipe();

	(void)state;
	req_case(r, FERRY_REQ_PYPROJECT,
		 "[project]\ndependencies = [\n    \"asyncio-mqtt>=0.16\",  # c\n    \"x\",\n]\n",
		 "[project]\ndependencies = [\n    \"aiomqtt==2.4.0\",  # c\n"
		 "    \"paho-mqtt==2.1.0\",\n    \"x\",\n]\n");
	req_case(r, FERRY_REQ_PYPROJECT,
		 "[project]\ndependencies = ['x', 'asyncio_mqtt[ws]>=0.1; os_name == \"nt\"']\n",
		 "[project]\ndependencies = ['x', 'aiomqtt[ws]==2.4.0; os_name == \"nt\"', "
		 "'paho-mqtt==2.1.0; os_name == \"nt\"']\n");
	/* last element of a multi-line array gets a comma */
	req_case(r, FERRY_REQ_PYPROJECT,
		 "[project.optional-dependencies]\nmqtt = [\n  \"asyncio-mqtt\"\n]\n",
		 "[project.optional-dependencies]\nmqtt = [\n  \"aiomqtt==2.4.0\",\n"
		 "  \"paho-mqtt==2.1.0\"\n]\n");
	/* other tables and strings are not dependency arrays */
	req_case(r, FERRY_REQ_PYPROJECT,
		 "[tool.x]\nlist = [\"asyncio-mqtt\"]\n[project]\ndescription = \"\"\"\n"
		 "[project]\ndependencies = [\"asyncio-mqtt\"]\"\"\"\n",
		 "[tool.x]\nlist = [\"asyncio-mqtt\"]\n[project]\ndescription = \"\"\"\n"
		 "[project]\ndependencies = [\"asyncio-mqtt\"]\"\"\"\n");
	ferry_recipe_free(r);
}

/* Rewrite as kind and expect an error whose message contains msg. */
static void req_error(ferry_recipe *r, int kind, const char *in, const char *msg)
{
	struct ferry_buf out = FERRY_BUF_INIT;
	struct ferry_error err = FERRY_ERROR_INIT;
	int changed = -1;

	assert_int_equal(ferry_rewrite_requirements(r, kind, in, strlen(in), &out,
						    NULL, &changed, &err), FERRY_EPARSE);
	if (!strstr(err.msg, msg))
		fail_msg("input:\n%s\nerror '%s' lacks '%s'", in, err.msg, msg);
	ferry_buf_release(&out);
}

/* Rewrite as kind: unchanged, with a "partial: line: " note. */
static void req_partial(ferry_recipe *r, int kind, const char *in, int line)
{
	struct ferry_buf out = FERRY_BUF_INIT, notes = FERRY_BUF_INIT;
	struct ferry_error err = FERRY_ERROR_INIT;
	char want[32];
	int changed = -1;

	assert_int_equal(ferry_rewrite_requirements(r, kind, in, strlen(in), &out,
						    &notes, &changed, &err), 0);
	assert_int_equal(changed, 0);
	assert_string_equal(out.buf, in);
	snprintf(want, sizeof(want), "partial: %d: ", line);
	if (!strstr(notes.buf, want))
		fail_msg("input:\n%s\nnotes:\n%s\nlack '%s'", in, notes.buf, want);
	ferry_buf_release(&out);
	ferry_buf_release(&notes);
}

static void decl_poetry_pipfile(void **state)
{
	ferry_recipe *r = recipe();

	(void)state;
	req_case(r, FERRY_REQ_PYPROJECT,
		 "[tool.poetry.dependencies]\npython = \"^3.11\"\n"
		 "asyncio-mqtt = \"^0.16.1\"  # mqtt\nx = \"*\"\n",
		 "[tool.poetry.dependencies]\npython = \"^3.11\"\n"
		 "aiomqtt = \"2.4.0\"  # mqtt\npaho-mqtt = \"2.1.0\"\nx = \"*\"\n");
	/* inline table: version replaced, extras and markers kept; CRLF */
	req_case(r, FERRY_REQ_PYPROJECT,
		 "[tool.poetry.group.dev.dependencies]\r\n"
		 "\"Asyncio.MQTT\" = {version = \"^0.16\", extras = [\"a\"], python = \">=3.8\"}\r\n",
		 "[tool.poetry.group.dev.dependencies]\r\n"
		 "\"aiomqtt\" = {version = \"2.4.0\", extras = [\"a\"], python = \">=3.8\"}\r\n"
		 "paho-mqtt = { version = \"2.1.0\", python = \">=3.8\" }\r\n");
	/* the target already listed: the old entry goes */
	req_case(r, FERRY_REQ_PYPROJECT,
		 "[tool.poetry.dependencies]\naiomqtt = \"^2\"\nasyncio-mqtt = \"*\"\n"
		 "paho-mqtt = \"2.1.0\"\n",
		 "[tool.poetry.dependencies]\naiomqtt = \"^2\"\npaho-mqtt = \"2.1.0\"\n");
	/* what ferry cannot rewrite safely in Poetry */
	req_partial(r, FERRY_REQ_PYPROJECT, "[tool.poetry.dependencies]\n"
		    "asyncio-mqtt = { git = \"https://x/y.git\" }\n", 2);
	req_partial(r, FERRY_REQ_PYPROJECT, "[tool.poetry.dependencies]\nz = \"1\"\n"
		    "asyncio-mqtt = [{ version = \"1\", python = \"<3\" }, "
		    "{ version = \"2\", python = \">=3\" }]\n", 3);
	/* the table form: header and version; one without a version gets one */
	req_case(r, FERRY_REQ_PYPROJECT,
		 "[tool.poetry.dependencies.asyncio-mqtt]\nversion = \"^0.16\"\n"
		 "extras = [\"a\"]\n\n[tool.poetry.group.dev.dependencies.\"asyncio_mqtt\"]\n"
		 "optional = true\n",
		 "[tool.poetry.dependencies.aiomqtt]\nversion = \"2.4.0\"\n"
		 "extras = [\"a\"]\n\n[tool.poetry.group.dev.dependencies.\"aiomqtt\"]\n"
		 "version = \"2.4.0\"\noptional = true\n");
	req_partial(r, FERRY_REQ_PYPROJECT, "[tool.poetry.dependencies.asyncio-mqtt]\n"
		    "git = \"https://x/y.git\"\n", 2);
	req_partial(r, FERRY_REQ_PYPROJECT, "[tool.poetry.dependencies]\naiomqtt = \"2\"\n"
		    "[tool.poetry.dependencies.asyncio-mqtt]\nversion = \"1\"\n", 3);
	/* an inline table without a version gets the recipe's */
	req_case(r, FERRY_REQ_PIPFILE, "[packages]\nasyncio-mqtt = { extras = [\"x\"] }\n",
		 "[packages]\naiomqtt = { version = \"==2.4.0\", extras = [\"x\"] }\n"
		 "paho-mqtt = \"==2.1.0\"\n");
	/* Pipfile keeps PEP 440 and "*" */
	req_case(r, FERRY_REQ_PIPFILE,
		 "[packages]\nasyncio_mqtt = \"*\"\n\n[dev-packages]\npytest = \"*\"\n",
		 "[packages]\naiomqtt = \"==2.4.0\"\npaho-mqtt = \"==2.1.0\"\n\n"
		 "[dev-packages]\npytest = \"*\"\n");
	/* bad input */
	req_error(r, FERRY_REQ_PIPFILE, "[packages]\nx = \"*\"\n[tools]\n",
		  "line 3: unknown section [tools]");
	req_error(r, FERRY_REQ_PYPROJECT, "[a]\nx = 1\n[b]\n[a]\n",
		  "line 4: not valid TOML: table [a] is defined twice");
	req_error(r, FERRY_REQ_PYPROJECT, "[a]\nx = 1\nx = 2\n",
		  "line 3: not valid TOML: key 'x' is defined twice");
	req_error(r, FERRY_REQ_PYPROJECT, "[a]\nx = '''\nnever closed\n",
		  "line 2: not valid TOML: unterminated multi-line string");
	req_error(r, FERRY_REQ_PYPROJECT, "[a]\nx = {y = 1\n",
		  "line 2: not valid TOML:");
	req_error(r, FERRY_REQ_PYPROJECT, "[a\n", "line 1: not valid TOML: expected ']'");
	req_error(r, FERRY_REQ_PYPROJECT, "x = 1 2\n",
		  "line 1: not valid TOML: text after the value");
	ferry_recipe_free(r);
}

static void decl_other_formats(void **state)
{
	ferry_recipe *r = recipe();

	(void)state;
	/* setup.cfg: no trailing comments (configparser would keep them) */
	req_case(r, FERRY_REQ_SETUP_CFG,
		 "[options]\ninstall_requires =\n    asyncio-mqtt>=0.16\n    x\n"
		 "[other]\nkey =\n    asyncio-mqtt\n",
		 "[options]\ninstall_requires =\n    aiomqtt==2.4.0\n    paho-mqtt==2.1.0\n"
		 "    x\n[other]\nkey =\n    asyncio-mqtt\n");
	req_case(r, FERRY_REQ_SETUP_CFG,
		 "[options.extras_require]\nmqtt = asyncio-mqtt; python_version>'3'\n",
		 "[options.extras_require]\nmqtt = aiomqtt==2.4.0; python_version>'3'\n"
		 "    paho-mqtt==2.1.0; python_version>'3'\n");
	/* setup.py: literal lists only; subscripts and calls are computed */
	req_case(r, FERRY_REQ_SETUP_PY,
		 "setup(install_requires=['asyncio-mqtt'], x=d['other'])\n",
		 "setup(install_requires=['aiomqtt==2.4.0', 'paho-mqtt==2.1.0'], "
		 "x=d['other'])\n");
	req_partial(r, FERRY_REQ_SETUP_PY,
		    "setup(install_requires=['asyncio-mqtt'],\n x=d['asyncio-mqtt'])\n", 2);
	req_partial(r, FERRY_REQ_SETUP_PY,
		    "REQ = ['x']\nsetup(install_requires=REQ + ['asyncio-mqtt' + V])\n", 2);
	req_partial(r, FERRY_REQ_SETUP_PY,
		    "setup(install_requires=['a',\n  f'asyncio-mqtt=={V}'])\n", 2);
	req_partial(r, FERRY_REQ_SETUP_PY, "setup(install_requires='asyncio-mqtt')\n", 1);
	/* manifest.json: JSON stays JSON (no comments) */
	req_case(r, FERRY_REQ_MANIFEST,
		 "{\"domain\": \"x\", \"requirements\": [\n  \"asyncio-mqtt==0.16\"\n]}\n",
		 "{\"domain\": \"x\", \"requirements\": [\n  \"aiomqtt==2.4.0\",\n"
		 "  \"paho-mqtt==2.1.0\"\n]}\n");
	req_case(r, FERRY_REQ_MANIFEST,
		 "{\"name\": {\"requirements\": [\"asyncio-mqtt\"]}}",
		 "{\"name\": {\"requirements\": [\"asyncio-mqtt\"]}}");
	req_error(r, FERRY_REQ_MANIFEST, "{\n\"requirements\": [\"a\",]\n}",
		  "line 2: not valid JSON");
	req_error(r, FERRY_REQ_MANIFEST, "[1]", "not a JSON object");
	/* Dockerfile: pip install words, continuation lines, options */
	req_case(r, FERRY_REQ_DOCKERFILE,
		 "RUN pip3 install -r req.txt --index-url http://x \\\n"
		 "    'asyncio-mqtt[ws]==0.16' && echo ok\n",
		 "RUN pip3 install -r req.txt --index-url http://x \\\n"
		 "    'aiomqtt[ws]==2.4.0' 'paho-mqtt==2.1.0' && echo ok\n");
	req_partial(r, FERRY_REQ_DOCKERFILE,
		    "ARG PKG=asyncio-mqtt\nRUN pip install $PKG asyncio-mqtt\n", 1);
	req_case(r, FERRY_REQ_DOCKERFILE, "# asyncio-mqtt\nRUN pip install x\n",
		 "# asyncio-mqtt\nRUN pip install x\n");
	ferry_recipe_free(r);
}

/* A pin the shell would read as a redirection gets quoted in Dockerfiles. */
static void decl_docker_quotes(void **state)
{
	static const char rc_text[] =
		"name: q\n"
		"requirements:\n"
		"  replace:\n"
		"    - {package: asyncio-mqtt, with: aiomqtt, pin: \">=2.4,<3\"}\n"
		"  add:\n"
		"    - {package: paho-mqtt, pin: \">=2.1\", when: aiomqtt}\n";
	struct ferry_error err = FERRY_ERROR_INIT;
	ferry_recipe *r = NULL;

	(void)state;
	assert_int_equal(ferry_recipe_parse(rc_text, strlen(rc_text), "t", &r, &err), 0);
	req_case(r, FERRY_REQ_DOCKERFILE, "RUN pip install asyncio-mqtt==0.16 x\n",
		 "RUN pip install \"aiomqtt>=2.4,<3\" \"paho-mqtt>=2.1\" x\n");
	req_case(r, FERRY_REQ_DOCKERFILE, "RUN pip install 'asyncio-mqtt'\n",
		 "RUN pip install 'aiomqtt>=2.4,<3' 'paho-mqtt>=2.1'\n");
	ferry_recipe_free(r);
}

static void decl_kinds(void **state)
{
	(void)state;
	assert_int_equal(ferry_rewrite_req_kind("pyproject.toml"), FERRY_REQ_PYPROJECT);
	assert_int_equal(ferry_rewrite_req_kind("sub/Pipfile"), FERRY_REQ_PIPFILE);
	assert_int_equal(ferry_rewrite_req_kind("setup.cfg"), FERRY_REQ_SETUP_CFG);
	assert_int_equal(ferry_rewrite_req_kind("setup.py"), FERRY_REQ_SETUP_PY);
	assert_int_equal(ferry_rewrite_req_kind("custom_components/x/manifest.json"),
			 FERRY_REQ_MANIFEST);
	assert_int_equal(ferry_rewrite_req_kind("web/manifest.json"), -1);
	assert_int_equal(ferry_rewrite_req_kind("docker/Dockerfile.prod"),
			 FERRY_REQ_DOCKERFILE);
	assert_int_equal(ferry_rewrite_req_kind("api.Dockerfile"), FERRY_REQ_DOCKERFILE);
	assert_int_equal(ferry_rewrite_req_kind("requirements-dev.txt"), FERRY_REQ_TXT);
	assert_int_equal(ferry_rewrite_req_kind("src/x.py"), -1);
}

static void py_case(ferry_recipe *r, const char *in, const char *want)
{
	struct ferry_buf out = FERRY_BUF_INIT, notes = FERRY_BUF_INIT;
	struct ferry_error err = FERRY_ERROR_INIT;
	int changed = -1;

	if (ferry_rewrite_python(r, in, strlen(in), &out, &notes, &changed, &err))
		fail_msg("%s", err.msg);
	if (strcmp(out.buf, want))
		fail_msg("input:\n%s\ngot:\n%s\nwant:\n%s", in, out.buf, want);
	ferry_buf_release(&out);
	ferry_buf_release(&notes);
}

static void python_rename(void **state)
{
	ferry_recipe *r = recipe();

	(void)state;
	py_case(r, "import asyncio_mqtt\nimport asyncio_mqtt as m\n",
		"import aiomqtt\nimport aiomqtt as m\n");
	py_case(r, "from asyncio_mqtt import X\nfrom asyncio_mqtt.error import E\n",
		"from aiomqtt import X\nfrom aiomqtt.error import E\n");
	py_case(r, "import os, asyncio_mqtt\nc = asyncio_mqtt.Client()\n",
		"import os, aiomqtt\nc = aiomqtt.Client()\n");
	/* strings of every kind, comments and longer identifiers stay */
	py_case(r,
		"# asyncio_mqtt.Client\n"
		"a = 'asyncio_mqtt.Client'\n"
		"b = \"\"\"\nimport asyncio_mqtt\n\"\"\"\n"
		"c = rb'asyncio_mqtt\\'.x'\n"
		"d = f\"{x['asyncio_mqtt']} {y:{w}} asyncio_mqtt.Client\"\n"
		"e = f'{f\"{asyncio_mqtt.Client}\"}'\n"
		"my_asyncio_mqtt_helper.Client\n"
		"obj.asyncio_mqtt.Client\n",
		"# asyncio_mqtt.Client\n"
		"a = 'asyncio_mqtt.Client'\n"
		"b = \"\"\"\nimport asyncio_mqtt\n\"\"\"\n"
		"c = rb'asyncio_mqtt\\'.x'\n"
		"d = f\"{x['asyncio_mqtt']} {y:{w}} asyncio_mqtt.Client\"\n"
		"e = f'{f\"{asyncio_mqtt.Client}\"}'\n"
		"my_asyncio_mqtt_helper.Client\n"
		"obj.asyncio_mqtt.Client\n");
	/* a bare name is the module only after a plain import; kwargs stay */
	py_case(r, "import asyncio_mqtt\nf(asyncio_mqtt, asyncio_mqtt=1)\n",
		"import aiomqtt\nf(aiomqtt, asyncio_mqtt=1)\n");
	py_case(r, "from x import asyncio_mqtt\nf(asyncio_mqtt)\n",
		"from x import asyncio_mqtt\nf(asyncio_mqtt)\n");
	/* line continuation inside an import; relative imports are local */
	py_case(r, "from asyncio_mqtt \\\n    import Client\nfrom .asyncio_mqtt import y\n",
		"from aiomqtt \\\n    import Client\nfrom .asyncio_mqtt import y\n");
	/* dotted renames: longest rule wins */
	py_case(r, "import old.sub.deep\nold.sub.f()\nold.other()\n",
		"import new.other.deep\nnew.other.f()\nold.other()\n");
	/* `yield from`/`raise from` are not imports */
	py_case(r, "def g():\n    yield from asyncio_mqtt_things\n",
		"def g():\n    yield from asyncio_mqtt_things\n");
	ferry_recipe_free(r);
}

static void python_warnings_and_errors(void **state)
{
	struct ferry_buf out = FERRY_BUF_INIT, notes = FERRY_BUF_INIT;
	struct ferry_error err = FERRY_ERROR_INIT;
	ferry_recipe *r = recipe();
	const char *src = "import asyncio_mqtt\n"
			  "c = asyncio_mqtt.Client(client_id='x')\n"
			  "s = 'c.messages()'  # c.messages()\n"
			  "with c.messages() as m: pass\n";
	int changed;

	(void)state;
	assert_int_equal(ferry_rewrite_python(r, src, strlen(src), &out, &notes,
					      &changed, &err), 0);
	assert_non_null(strstr(notes.buf, "asyncio_mqtt -> aiomqtt (2 places)"));
	assert_non_null(strstr(notes.buf, "warning: 2: use identifier"));
	assert_non_null(strstr(notes.buf, "warning: 4: no messages()"));
	assert_null(strstr(notes.buf, "warning: 3: no messages()"));
	ferry_buf_clear(&out);
	assert_int_equal(ferry_rewrite_python(r, "x = '\xff asyncio_mqtt'\n", 21,
					      &out, NULL, &changed, &err), FERRY_EPARSE);
	assert_non_null(strstr(err.msg, "UTF-8"));
	/* the line of the first bad byte (model's val_utf8_prefix) */
	assert_int_equal(ferry_rewrite_python(r, "a = 1\nb = '\xc3\xa4'\nc = '\xed\xa0\x80'\n",
					      25, &out, NULL, &changed, &err), FERRY_EPARSE);
	assert_non_null(strstr(err.msg, "not valid UTF-8 at line 3"));
	assert_int_equal(ferry_rewrite_python(r, "import asyncio_mqtt\nx = '''\n", 28,
					      &out, NULL, &changed, &err), FERRY_EPARSE);
	assert_non_null(strstr(err.msg, "unterminated string starting at line 2"));
	assert_int_equal(ferry_rewrite_python(r, "a\0b", 3, &out, NULL, &changed,
					      &err), FERRY_EPARSE);
	ferry_buf_release(&out);
	ferry_buf_release(&notes);
	ferry_recipe_free(r);
}

static void tokens(void **state)
{
	struct pyt_tokens t = { NULL, 0, 0 };
	struct ferry_error err = FERRY_ERROR_INIT;
	const char *s = "x = (1,\n  2)  # c\ny = f\"{a!r:>{w}}\" 'q'\n";

	(void)state;
	assert_int_equal(rw_pyt_tokenize(s, strlen(s), &t, &err), 0);
	/* x = ( 1 , NL 2 ) COMMENT NEWLINE y = STRING STRING NEWLINE */
	assert_int_equal(t.n, 15);
	assert_int_equal(t.v[5].kind, PYT_NL);
	assert_int_equal(t.v[8].kind, PYT_COMMENT);
	assert_int_equal(t.v[9].kind, PYT_NEWLINE);
	assert_int_equal(t.v[12].kind, PYT_STRING);
	assert_int_equal(t.v[12].line, 3);
	assert_int_equal(t.v[13].kind, PYT_STRING);
	rw_pyt_tokens_release(&t);
}

static void diff(void **state)
{
	struct ferry_buf out = FERRY_BUF_INIT;
	const char *a = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n";
	const char *b = "1\n2\n3\nfour\n5\n6\n7\n8\n9\n10\n11\n12\n13";

	(void)state;
	assert_int_equal(ferry_diff_unified("a", a, strlen(a), "b", a, strlen(a), 3,
					    &out), 0);
	assert_int_equal(out.len, 0);
	assert_int_equal(ferry_diff_unified("a", a, strlen(a), "b", b, strlen(b), 3,
					    &out), 0);
	assert_string_equal(out.buf,
		"--- a\n+++ b\n"
		"@@ -1,7 +1,7 @@\n 1\n 2\n 3\n-4\n+four\n 5\n 6\n 7\n"
		"@@ -10,3 +10,4 @@\n 10\n 11\n 12\n+13\n\\ No newline at end of file\n");
	ferry_buf_clear(&out);
	assert_int_equal(ferry_diff_unified("a", "", 0, "b", "x\n", 2, 3, &out), 0);
	assert_string_equal(out.buf, "--- a\n+++ b\n@@ -0,0 +1 @@\n+x\n");
	ferry_buf_release(&out);
}

static void recipe_errors(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	ferry_recipe *r = NULL;
	const char *typo = "name: t\npython:\n  renames:\n    - {module: a, to: b}\n";
	const char *yaml = "name: [\n";

	(void)state;
	assert_int_equal(ferry_recipe_parse(typo, strlen(typo), "r.yaml", &r, &err),
			 FERRY_EPARSE);
	assert_non_null(strstr(err.msg, "unknown key 'renames' in 'python'"));
	assert_non_null(strstr(err.msg, "line 3"));
	assert_int_equal(ferry_recipe_parse(yaml, strlen(yaml), "r.yaml", &r, &err),
			 FERRY_EPARSE);
	assert_non_null(strstr(err.msg, "cannot parse recipe 'r.yaml'"));
	assert_int_equal(ferry_recipe_load("no-such-recipe", &r, &err),
			 FERRY_ENOTFOUND);
	assert_null(r);
}

static void builtin_matches_example(void **state)
{
	const char *src = getenv("FERRY_SRC");
	char path[4096];
	struct ferry_buf b = FERRY_BUF_INIT;
	struct ferry_error err = FERRY_ERROR_INIT;
	ferry_recipe *r = NULL;
	const char *text;
	FILE *f;
	char chunk[4096];
	size_t n;

	(void)state;
	if (!src)
		src = ".";
	snprintf(path, sizeof(path), "%s/examples/recipes/asyncio-mqtt-to-aiomqtt.yaml",
		 src);
	f = fopen(path, "rb");
	assert_non_null(f);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		assert_int_equal(ferry_buf_add(&b, chunk, n), 0);
	fclose(f);
	text = ferry_recipe_builtin_text("asyncio-mqtt-to-aiomqtt");
	assert_non_null(text);
	assert_int_equal(strlen(text), b.len);
	assert_memory_equal(text, b.buf, b.len);
	assert_int_equal(ferry_recipe_load("asyncio-mqtt-to-aiomqtt", &r, &err), 0);
	assert_string_equal(ferry_recipe_name(r), "asyncio-mqtt-to-aiomqtt");
	assert_string_equal(ferry_recipe_test_cmd(r), "pytest tests/ -v --tb=short");
	ferry_recipe_free(r);
	ferry_buf_release(&b);
}

static void globs(void **state)
{
	(void)state;
	assert_true(rw_glob_match("src/**/*.py", "src/a.py"));
	assert_true(rw_glob_match("src/**/*.py", "src/x/y/a.py"));
	assert_false(rw_glob_match("src/**/*.py", "srcx/a.py"));
	assert_false(rw_glob_match("*.py", "src/a.py"));
	assert_true(rw_glob_match("requirements*.txt", "requirements-dev.txt"));
	assert_false(rw_glob_match("requirements*.txt", "sub/requirements.txt"));
}

/* libfyaml 0.7.12 loops forever on "%\x89"; the parser must refuse
 * non-UTF-8 before it gets there (found by tests/fuzz/fuzz_recipe). */
static void recipe_rejects_invalid_utf8(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	ferry_recipe *r = NULL;

	(void)state;
	assert_int_equal(ferry_recipe_parse("%\x89", 2, "fuzz", &r, &err), FERRY_EPARSE);
	assert_null(r);
	assert_non_null(strstr(err.msg, "not valid UTF-8"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(norm),
		cmocka_unit_test(requirements_txt),
		cmocka_unit_test(requirements_pyproject),
		cmocka_unit_test(decl_poetry_pipfile),
		cmocka_unit_test(decl_other_formats),
		cmocka_unit_test(decl_kinds),
		cmocka_unit_test(decl_docker_quotes),
		cmocka_unit_test(python_rename),
		cmocka_unit_test(python_warnings_and_errors),
		cmocka_unit_test(tokens),
		cmocka_unit_test(diff),
		cmocka_unit_test(recipe_errors),
		cmocka_unit_test(builtin_matches_example),
		cmocka_unit_test(globs),
		cmocka_unit_test(recipe_rejects_invalid_utf8),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
