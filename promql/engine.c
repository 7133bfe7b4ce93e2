/* engine.c - placeholder, being written */
#include "promql/engine.h"
