/* index.c - placeholder, being written */
#include "tsdb/index.h"
