/*
 * glue.h - the milter callbacks: they translate engine events (engine.h)
 * into session_* calls and session replies into engine statuses.
 */
#ifndef MXG_GLUE_H
#define MXG_GLUE_H

#include "engine.h"

/* The callbacks for engine_new(); static, never freed. */
const engine_callbacks *glue_callbacks_get(void);
/* Connections currently open (for a clean stop). */
int glue_active_sessions(void);

#endif
