/* api.c - placeholder, being written */
#include "api/api.h"
