/* selfmetrics.c - placeholder, being written */
#include "api/selfmetrics.h"
