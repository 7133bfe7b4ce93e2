/* labels.c - placeholder, being written */
#include "tsdb/labels.h"
