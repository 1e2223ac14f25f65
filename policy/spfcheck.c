/* policy/spfcheck.c - placeholder until its module lands */
#include "config.h"
typedef int mxg_placeholder_spfcheck;
