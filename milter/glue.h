/*
 * glue.h - the libmilter layer: registers the callbacks that translate
 * libmilter events into session_* calls and session replies into SMFIS_*.
 */
#ifndef MXG_GLUE_H
#define MXG_GLUE_H

/* Register the filter with libmilter; false on failure (logged). */
int glue_register(void);
/* Connections currently open (for a clean stop). */
int glue_active_sessions(void);

#endif
