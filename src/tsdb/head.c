/* head.c - placeholder, being written */
#include "tsdb/head.h"
