/* matcher.c - placeholder, being written */
#include "tsdb/matcher.h"
