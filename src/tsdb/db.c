/* db.c - placeholder, being written */
#include "tsdb/db.h"
