/*
 * builtin_recipes.c - recipes compiled into ferry so that
 * `--recipe <name>` works without the file.
 *
 * Each text is examples/recipes/<name>.yaml itself, made a C string at
 * build time (cmake/embed.cmake, CMakeLists.txt lists the names).
 */
#include <string.h>

#include "recipe_asyncio_mqtt_to_aiomqtt.h"
#include "recipe_paho_mqtt_1_to_2.h"
#include "recipe_paho_mqtt_1_to_2_callbacks_v2.h"
#include "rewrite_int.h"

static const char *const names[] = { "asyncio-mqtt-to-aiomqtt",
	"paho-mqtt-1-to-2", "paho-mqtt-1-to-2-callbacks-v2", NULL };
static const char *const texts[] = {
	(const char *)recipe_asyncio_mqtt_to_aiomqtt,
	(const char *)recipe_paho_mqtt_1_to_2,
	(const char *)recipe_paho_mqtt_1_to_2_callbacks_v2,
};

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
