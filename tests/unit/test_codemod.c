/*
 * test_codemod.c - unit tests for the recipe codemods (rewrite/codemod.c):
 * keyword renames through every import spelling, argument insertion
 * spelled with the file's own aliases, attribute and method renames, the
 * cases that must never be touched (strings, comments, f-strings, other
 * classes, rebound names, nested calls, **kwargs) and the warnings for
 * what tokens cannot prove; recipe errors; the paho-mqtt built-ins.
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
	"python:\n"
	"  rename:\n"
	"    - {module: asyncio_mqtt, to: aiomqtt}\n"
	"  codemods:\n"
	"    - call: aiomqtt.Client\n"
	"      rename_keywords: {client_id: identifier}\n"
	"    - call: paho.mqtt.client.Client\n"
	"      insert_argument:\n"
	"        position: 0\n"
	"        value: \"{paho.mqtt.client:CallbackAPIVersion}.VERSION1\"\n"
	"        unless: [callback_api_version, CallbackAPIVersion]\n"
	"    - attribute: aiomqtt.OldError\n"
	"      to: NewError\n"
	"    - method: aiomqtt.Client.old_call\n"
	"      to: new_call\n"
	"  warnings:\n"
	"    - {match: [\".on_connect =\"], message: on_connect changed}\n";

static ferry_recipe *recipe(void)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	ferry_recipe *r = NULL;

	if (ferry_recipe_parse(RECIPE, strlen(RECIPE), "t.yaml", &r, &err))
		fail_msg("%s", err.msg);
	return r;
}

/* Rewrite in, compare with want, and return the notes (caller frees). */
static char *cm_case(ferry_recipe *r, const char *in, const char *want)
{
	struct ferry_buf out = FERRY_BUF_INIT, notes = FERRY_BUF_INIT;
	struct ferry_buf again = FERRY_BUF_INIT;
	struct ferry_error err = FERRY_ERROR_INIT;
	int changed = -1;

	if (ferry_rewrite_python(r, in, strlen(in), &out, &notes, &changed, &err))
		fail_msg("%s", err.msg);
	if (strcmp(out.buf ? out.buf : "", want))
		fail_msg("input:\n%s\ngot:\n%s\nwant:\n%s", in, out.buf, want);
	assert_int_equal(changed, strcmp(in, want) != 0);
	/* a second run changes nothing */
	if (ferry_rewrite_python(r, out.buf, out.len, &again, NULL, &changed, &err))
		fail_msg("%s", err.msg);
	assert_string_equal(again.buf, out.buf);
	assert_int_equal(changed, 0);
	ferry_buf_release(&out);
	ferry_buf_release(&again);
	if (!notes.buf)
		return calloc(1, 1);
	return ferry_buf_detach(&notes, NULL);
}

static void has(char *notes, const char *want)
{
	if (!strstr(notes, want))
		fail_msg("notes lack '%s':\n%s", want, notes);
}

static void lacks(char *notes, const char *bad)
{
	if (strstr(notes, bad))
		fail_msg("notes have '%s':\n%s", bad, notes);
}

static void keyword_aliases(void **state)
{
	ferry_recipe *r = recipe();
	char *n;

	(void)state;
	n = cm_case(r, "import aiomqtt\nc = aiomqtt.Client('h', client_id='x')\n",
		    "import aiomqtt\nc = aiomqtt.Client('h', identifier='x')\n");
	has(n, "aiomqtt.Client(client_id=) -> identifier= (1 call)");
	free(n);
	free(cm_case(r, "import aiomqtt as am\nc = am.Client(client_id=i)\n",
		     "import aiomqtt as am\nc = am.Client(identifier=i)\n"));
	free(cm_case(r, "from aiomqtt import Client as C\nC(\n  'h',\n  client_id=i,\n)\n",
		     "from aiomqtt import Client as C\nC(\n  'h',\n  identifier=i,\n)\n"));
	free(cm_case(r, "from aiomqtt import (\n    Client,\n)\nClient(client_id=1)\n",
		     "from aiomqtt import (\n    Client,\n)\nClient(identifier=1)\n"));
	/* through the module rename of the same recipe */
	free(cm_case(r, "import asyncio_mqtt as m\nm.Client(client_id=1)\n",
		     "import aiomqtt as m\nm.Client(identifier=1)\n"));
	free(cm_case(r, "from asyncio_mqtt import Client\nClient(client_id=1)\n",
		     "from aiomqtt import Client\nClient(identifier=1)\n"));
	/* async with, a call inside an argument list */
	free(cm_case(r, "import aiomqtt\nasync def f():\n"
		     "    async with aiomqtt.Client(h, client_id=cid) as c:\n"
		     "        print(aiomqtt.Client(client_id=2))\n",
		     "import aiomqtt\nasync def f():\n"
		     "    async with aiomqtt.Client(h, identifier=cid) as c:\n"
		     "        print(aiomqtt.Client(identifier=2))\n"));
	ferry_recipe_free(r);
}

static void must_not_touch(void **state)
{
	ferry_recipe *r = recipe();
	const char *s;
	char *n;

	(void)state;
	/* strings, comments, f-strings, other classes, nested calls */
	s = "import aiomqtt\n"
	    "from other import Client as Other\n"
	    "a = 'aiomqtt.Client(client_id=1)'  # aiomqtt.Client(client_id=1)\n"
	    "b = f\"{aiomqtt.Client}(client_id=1) {x(client_id=2)}\"\n"
	    "c = Other(client_id=3)\n"
	    "d = Client(client_id=4)\n"
	    "e = obj.aiomqtt.Client(client_id=5)\n"
	    "f = aiomqtt.Client(h, will=Will(client_id=6), **{'client_id': 7})\n"
	    "g = aiomqtt.Clientele(client_id=8)\n";
	n = cm_case(r, s, s);
	lacks(n, "aiomqtt.Client(client_id=)");
	has(n, "warning: 8: aiomqtt.Client(...) gets '**' keyword arguments that "
	    "may carry 'client_id'");
	free(n);
	/* a name rebound anywhere in the file is not trusted */
	s = "from aiomqtt import Client\n"
	    "def f(Client):\n"
	    "    return Client(client_id=1)\n";
	n = cm_case(r, s, s);
	has(n, "warning: 3: 'Client' is imported from aiomqtt.Client but also "
	    "rebound in this file");
	free(n);
	s = "import aiomqtt as mq\nmq = other\nmq.Client(client_id=1)\n";
	n = cm_case(r, s, s);
	has(n, "warning: 3: 'mq' is imported from aiomqtt");
	free(n);
	s = "from aiomqtt import Client\nfor Client in kinds:\n    Client(client_id=1)\n";
	free(cm_case(r, s, s));
	s = "from aiomqtt import Client\nwith x as Client:\n    Client(client_id=1)\n";
	free(cm_case(r, s, s));
	s = "from aiomqtt import Client\nclass Client: pass\nClient(client_id=1)\n";
	free(cm_case(r, s, s));
	s = "from aiomqtt import Client\na = Client = b = other\nClient(client_id=1)\n";
	free(cm_case(r, s, s));
	/* both spellings given: left for a human */
	s = "import aiomqtt\naiomqtt.Client(client_id=1, identifier=2)\n";
	n = cm_case(r, s, s);
	has(n, "warning: 2: aiomqtt.Client(...) is given both 'client_id' and "
	    "'identifier'");
	free(n);
	/* what tokens cannot prove: getattr, the class handed around */
	s = "import aiomqtt\n"
	    "make = aiomqtt.Client\n"
	    "k = getattr(aiomqtt, 'Client')\n"
	    "def f(c: aiomqtt.Client) -> aiomqtt.Client:\n"
	    "    return isinstance(c, aiomqtt.Client)\n"
	    "M = {'default': aiomqtt.Client}\n";
	n = cm_case(r, s, s);
	has(n, "warning: 2: aiomqtt.Client is used here without a call");
	has(n, "warning: 6: aiomqtt.Client is used here without a call");
	has(n, "warning: 3: getattr() on aiomqtt");
	lacks(n, "warning: 4:");
	lacks(n, "warning: 5:");
	free(n);
	/* a file that does not import the package is not looked at */
	s = "Client(client_id=1)\nx.on_connect = f\n";
	n = cm_case(r, s, s);
	assert_string_equal(n, "");
	free(n);
	ferry_recipe_free(r);
}

static void insert_argument(void **state)
{
	ferry_recipe *r = recipe();
	const char *s;
	char *n;

	(void)state;
	n = cm_case(r, "import paho.mqtt.client as mqtt\nc = mqtt.Client()\n"
		    "d = mqtt.Client('id', clean_session=True)\n",
		    "import paho.mqtt.client as mqtt\n"
		    "c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION1)\n"
		    "d = mqtt.Client(mqtt.CallbackAPIVersion.VERSION1, 'id', clean_session=True)\n");
	has(n, "paho.mqtt.client.Client(): CallbackAPIVersion.VERSION1 inserted as "
	    "argument 1 (2 calls)");
	free(n);
	free(cm_case(r, "import paho.mqtt.client\nc = paho.mqtt.client.Client(client_id='x')\n",
		     "import paho.mqtt.client\nc = paho.mqtt.client.Client("
		     "paho.mqtt.client.CallbackAPIVersion.VERSION1, client_id='x')\n"));
	free(cm_case(r, "from paho.mqtt import client as pm\nc = pm.Client(\n    'id',\n)\n",
		     "from paho.mqtt import client as pm\nc = pm.Client(\n"
		     "    pm.CallbackAPIVersion.VERSION1, 'id',\n)\n"));
	/* called through a from-import: the name joins that import */
	free(cm_case(r, "from paho.mqtt.client import Client as PahoClient\n"
		     "c = PahoClient('id')\nd = PahoClient()\n",
		     "from paho.mqtt.client import Client as PahoClient, CallbackAPIVersion\n"
		     "c = PahoClient(CallbackAPIVersion.VERSION1, 'id')\n"
		     "d = PahoClient(CallbackAPIVersion.VERSION1)\n"));
	free(cm_case(r, "from paho.mqtt.client import (Client, MQTTv311)\nc = Client()\n",
		     "from paho.mqtt.client import (Client, MQTTv311, CallbackAPIVersion)\n"
		     "c = Client(CallbackAPIVersion.VERSION1)\n"));
	/* an attribute rename and an added name in one import; an alias
	 * imported after the call (a NameError there) is not used */
	free(cm_case(r, "from paho.mqtt.client import OldError, Client\n"
		     "c = Client()\nimport paho.mqtt.client as late\n",
		     "from paho.mqtt.client import OldError, Client, CallbackAPIVersion\n"
		     "c = Client(CallbackAPIVersion.VERSION1)\nimport paho.mqtt.client as late\n"));
	free(cm_case(r, "from paho.mqtt.client import (\n    Client,\n)\n"
		     "def f():\n    import paho.mqtt.client as local\n"
		     "c = Client()\n",
		     "from paho.mqtt.client import (\n    Client, CallbackAPIVersion,\n)\n"
		     "def f():\n    import paho.mqtt.client as local\n"
		     "c = Client(CallbackAPIVersion.VERSION1)\n"));
	/* already imported by the file */
	free(cm_case(r, "from paho.mqtt.client import Client, CallbackAPIVersion as V\n"
		     "c = Client()\n",
		     "from paho.mqtt.client import Client, CallbackAPIVersion as V\n"
		     "c = Client(V.VERSION1)\n"));
	/* already given (either version, positional or keyword) */
	s = "import paho.mqtt.client as mqtt\n"
	    "a = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, 'id')\n"
	    "b = mqtt.Client(callback_api_version=v, client_id='id')\n";
	free(cm_case(r, s, s));
	/* positional spread: where argument 1 goes is unknown */
	s = "import paho.mqtt.client as mqtt\nc = mqtt.Client(*args)\n";
	n = cm_case(r, s, s);
	has(n, "warning: 2: paho.mqtt.client.Client(...): cannot tell where");
	free(n);
	/* keyword spread: it may already carry callback_api_version */
	s = "import paho.mqtt.client as mqtt\nc = mqtt.Client(**cfg)\n";
	n = cm_case(r, s, s);
	has(n, "warning: 2: paho.mqtt.client.Client(...) gets '**' keyword "
	    "arguments that may already give");
	free(n);
	/* the name is taken by something else: cannot spell it */
	s = "from paho.mqtt.client import Client\nfrom x import CallbackAPIVersion\n"
	    "c = Client()\n";
	n = cm_case(r, s, s);
	has(n, "warning: 3: paho.mqtt.client.Client(...): cannot spell");
	free(n);
	/* plain `import paho` does not load paho.mqtt.client */
	s = "import paho\nimport other.paho\nx = other.paho.mqtt.client.Client()\n";
	free(cm_case(r, s, s));
	/* the recipe's token warnings run in files using a codemod target */
	n = cm_case(r, "import paho.mqtt.client as mqtt\nc = mqtt.Client(\n)\n"
		    "c.on_connect = on_connect\n",
		    "import paho.mqtt.client as mqtt\n"
		    "c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION1\n)\n"
		    "c.on_connect = on_connect\n");
	has(n, "warning: 4: on_connect changed");
	free(n);
	ferry_recipe_free(r);
}

static void attribute_and_method(void **state)
{
	ferry_recipe *r = recipe();
	const char *s;
	char *n;

	(void)state;
	n = cm_case(r, "import aiomqtt as am\nfrom aiomqtt import OldError\n"
		    "from aiomqtt import OldError as E\n"
		    "try:\n    pass\nexcept (am.OldError, OldError, E):\n    pass\n"
		    "s = 'am.OldError'\n",
		    "import aiomqtt as am\nfrom aiomqtt import NewError as OldError\n"
		    "from aiomqtt import NewError as E\n"
		    "try:\n    pass\nexcept (am.NewError, OldError, E):\n    pass\n"
		    "s = 'am.OldError'\n");
	has(n, "aiomqtt.OldError -> NewError (3 places)");
	free(n);
	/* methods: only on names bound to nothing but Client(...) */
	s = "import aiomqtt\n"
	    "c = aiomqtt.Client('h')\n"
	    "c.old_call(1)\n"
	    "async def f():\n"
	    "    async with aiomqtt.Client('h') as d:\n"
	    "        await d.old_call()\n"
	    "e = aiomqtt.Client('h')\n"
	    "e = something_else\n"
	    "e.old_call()\n"
	    "g = aiomqtt.Client('h').other\n"
	    "g.old_call()\n";
	n = cm_case(r, s,
		    "import aiomqtt\n"
		    "c = aiomqtt.Client('h')\n"
		    "c.new_call(1)\n"
		    "async def f():\n"
		    "    async with aiomqtt.Client('h') as d:\n"
		    "        await d.new_call()\n"
		    "e = aiomqtt.Client('h')\n"
		    "e = something_else\n"
		    "e.old_call()\n"
		    "g = aiomqtt.Client('h').other\n"
		    "g.old_call()\n");
	has(n, "aiomqtt.Client.old_call -> new_call (2 places)");
	has(n, "warning: 9: '.old_call' on 'e', which ferry cannot prove is a "
	    "aiomqtt.Client");
	has(n, "warning: 11: '.old_call' on 'g'");
	free(n);
	ferry_recipe_free(r);
}

static void recipe_errors(void **state)
{
	static const struct {
		const char *yaml, *msg;
	} cases[] = {
		{ "  codemods:\n    - {call: a.B, rename_keyword: {x: y}}\n",
		  "unknown key 'rename_keyword' in 'codemods'" },
		{ "  codemods:\n    - {call: a.B, method: a.B.c, to: d}\n",
		  "exactly one of 'call', 'attribute' or 'method'" },
		{ "  codemods:\n    - {call: B, rename_keywords: {x: y}}\n",
		  "must be a dotted import path" },
		{ "  codemods:\n    - {call: a.B}\n",
		  "needs 'rename_keywords' or 'insert_argument'" },
		{ "  codemods:\n    - {call: a.B, to: c}\n", "'to' belongs to" },
		{ "  codemods:\n    - {attribute: a.B}\n", "need a 'to' name" },
		{ "  codemods:\n    - {method: a.m, to: n}\n", "module.Class.method" },
		{ "  codemods:\n    - {call: a.B, rename_keywords: {x: \"y z\"}}\n",
		  "maps Python names to Python names" },
		{ "  codemods:\n    - {call: a.B, insert_argument: {value: v, position: x}}\n",
		  "'position' must be 0..32" },
		{ "  codemods:\n    - {call: a.B, insert_argument: {position: 0}}\n",
		  "needs a 'value'" },
		{ "  codemods:\n    - {call: a.B, insert_argument: {value: \"{a\"}}\n",
		  "missing its '}'" },
		{ "  codemods: {call: a.B}\n", "'codemods' must be a list" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct ferry_error err = FERRY_ERROR_INIT;
		ferry_recipe *r = NULL;
		char yaml[512];

		snprintf(yaml, sizeof(yaml), "name: t\npython:\n%s", cases[i].yaml);
		assert_int_equal(ferry_recipe_parse(yaml, strlen(yaml), "r.yaml", &r,
						    &err), FERRY_EPARSE);
		if (!strstr(err.msg, cases[i].msg))
			fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, cases[i].msg);
		assert_non_null(strstr(err.msg, "r.yaml"));
		assert_null(r);
	}
}

static void builtins_match_examples(void **state)
{
	static const char *const names[] = { "asyncio-mqtt-to-aiomqtt",
		"paho-mqtt-1-to-2", "paho-mqtt-1-to-2-callbacks-v2" };
	const char *src = getenv("FERRY_SRC");
	size_t i;

	(void)state;
	if (!src)
		src = ".";
	for (i = 0; i < sizeof(names) / sizeof(*names); i++) {
		struct ferry_buf b = FERRY_BUF_INIT;
		struct ferry_error err = FERRY_ERROR_INIT;
		ferry_recipe *r = NULL;
		const char *text = ferry_recipe_builtin_text(names[i]);
		char path[4096], chunk[4096];
		FILE *f;
		size_t n;

		snprintf(path, sizeof(path), "%s/examples/recipes/%s.yaml", src,
			 names[i]);
		f = fopen(path, "rb");
		if (!f)
			fail_msg("cannot open %s", path);
		while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
			assert_int_equal(ferry_buf_add(&b, chunk, n), 0);
		fclose(f);
		if (!text)
			fail_msg("no built-in recipe %s", names[i]);
		assert_int_equal(strlen(text), b.len);
		assert_memory_equal(text, b.buf, b.len);
		if (ferry_recipe_load(names[i], &r, &err))
			fail_msg("%s: %s", names[i], err.msg);
		assert_string_equal(ferry_recipe_name(r), names[i]);
		ferry_recipe_free(r);
		ferry_buf_release(&b);
	}
}

/* The shipped paho recipes on a 1.x source, both modes. */
static void paho_recipes(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	ferry_recipe *v1 = NULL, *v2 = NULL;
	const char *s = "import paho.mqtt.client as mqtt\n"
			"def on_connect(client, userdata, flags, rc):\n"
			"    pass\n"
			"c = mqtt.Client('id')\n"
			"c.on_connect = on_connect\n";
	char *n;

	(void)state;
	if (ferry_recipe_load("paho-mqtt-1-to-2", &v1, &err) ||
	    ferry_recipe_load("paho-mqtt-1-to-2-callbacks-v2", &v2, &err))
		fail_msg("%s", err.msg);
	n = cm_case(v1, s, "import paho.mqtt.client as mqtt\n"
		    "def on_connect(client, userdata, flags, rc):\n"
		    "    pass\n"
		    "c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION1, 'id')\n"
		    "c.on_connect = on_connect\n");
	lacks(n, "warning: 5");
	free(n);
	n = cm_case(v2, s, "import paho.mqtt.client as mqtt\n"
		    "def on_connect(client, userdata, flags, rc):\n"
		    "    pass\n"
		    "c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, 'id')\n"
		    "c.on_connect = on_connect\n");
	has(n, "warning: 5: paho-mqtt 2.x VERSION2: on_connect(client, userdata, "
	    "flags, reason_code, properties)");
	free(n);
	ferry_recipe_free(v1);
	ferry_recipe_free(v2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(keyword_aliases),
		cmocka_unit_test(must_not_touch),
		cmocka_unit_test(insert_argument),
		cmocka_unit_test(attribute_and_method),
		cmocka_unit_test(recipe_errors),
		cmocka_unit_test(builtins_match_examples),
		cmocka_unit_test(paho_recipes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
