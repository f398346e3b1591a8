/*
 * builtin_recipes.c - recipes compiled into ferry so that
 * `--recipe <name>` works without the file.
 *
 * Each text is a byte-for-byte copy of examples/recipes/<name>.yaml;
 * tests/unit/test_rewrite.c fails when they drift apart.
 */
#include <string.h>

#include "rewrite_int.h"

static const char aiomqtt_yaml[] =
	"# asyncio-mqtt is unmaintained; its successor is aiomqtt.  aiomqtt 2.4.0\n"
	"# needs paho-mqtt 2.1.0 beside it.  Run with:\n"
	"#   ferry rewrite --recipe asyncio-mqtt-to-aiomqtt --dry-run services/*\n"
	"name: asyncio-mqtt-to-aiomqtt\n"
	"description: replace asyncio-mqtt with aiomqtt 2.4.0 and paho-mqtt 2.1.0\n"
	"\n"
	"# A directory is a service when one of these exists at its top.\n"
	"service:\n"
	"  any: [\"requirements*.txt\", \"constraints*.txt\", \"pyproject.toml\", \"setup.py\", \"setup.cfg\",\n"
	"        \"Pipfile\", \"Dockerfile\", \"custom_components/*/manifest.json\"]\n"
	"\n"
	"requirements:\n"
	"  # Besides these, every pyproject.toml, Pipfile, setup.cfg, setup.py,\n"
	"  # custom_components/*/manifest.json and Dockerfile is rewritten.\n"
	"  files: [\"requirements*.txt\", \"requirements/*.txt\", \"constraints*.txt\", \"pyproject.toml\"]\n"
	"  replace:\n"
	"    - package: asyncio-mqtt\n"
	"      with: aiomqtt\n"
	"      pin: \"==2.4.0\"\n"
	"  add:\n"
	"    - package: paho-mqtt\n"
	"      pin: \"==2.1.0\"\n"
	"      when: aiomqtt\n"
	"      comment: \"required by aiomqtt 2.x\"\n"
	"\n"
	"python:\n"
	"  files: [\"src/**/*.py\", \"tests/**/*.py\", \"custom_components/**/*.py\", \"*.py\"]\n"
	"  rename:\n"
	"    - module: asyncio_mqtt\n"
	"      to: aiomqtt\n"
	"  # Checked in files that used asyncio_mqtt; each `match` is a Python\n"
	"  # token sequence (code only, never strings or comments).\n"
	"  warnings:\n"
	"    - match: [filtered_messages]\n"
	"      message: \"aiomqtt 2.x removed filtered_messages(); iterate 'async for message in client.messages' and test message.topic.matches(...)\"\n"
	"    - match: [unfiltered_messages]\n"
	"      message: \"aiomqtt 2.x removed unfiltered_messages(); iterate 'async for message in client.messages'\"\n"
	"    - match: [\".messages(\"]\n"
	"      message: \"aiomqtt 2.x: messages() is no longer a context manager; use 'async for message in client.messages'\"\n"
	"    - match: [\"client_id =\"]\n"
	"      message: \"aiomqtt 2.x renamed the Client argument client_id to identifier\"\n"
	"    - match: [\".connect(\", \".disconnect(\"]\n"
	"      message: \"aiomqtt 2.x removed connect()/disconnect(); use 'async with Client(...) as client'\"\n"
	"    - match: [\"asyncio_mqtt.error\", \"asyncio_mqtt import error\"]\n"
	"      message: \"aiomqtt 2.x moved the .error module to .exceptions (MqttError is also importable from aiomqtt)\"\n"
	"\n"
	"tests:\n"
	"  command: pytest tests/ -v --tb=short\n"
	"  timeout: 600\n";

static const char *const names[] = { "asyncio-mqtt-to-aiomqtt", NULL };
static const char *const texts[] = { aiomqtt_yaml };

const char *ferry_recipe_builtin_text(const char *name)
{
	size_t i;

	for (i = 0; names[i]; i++)
		if (!strcmp(names[i], name))
			return texts[i];
	return NULL;
}

const char *const *ferry_recipe_builtin_names(void)
{
	return names;
}
